"""Start-up: from launching ``python -m desktop_app`` to the window being shown (target < 1.5 s).

Each round starts the app in a new process (offscreen, a fresh ``SCALPEL_HOME``)
and times, from just before the launch, until the process says its window is
on screen and the event loop has turned once. The model loads in the
background after that and is not part of this figure.

How the process says so: a small launcher adds a hook to the app's one
start-up seam (``desktop_app.app.on_window_shown``, called on the event loop's
first turn with the window shown) that prints ``scalpel-window-shown
<perf_counter>`` to stderr and exits, then runs ``desktop_app`` as ``-m`` would.

    python benchmarks/bench_cold_start.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.report import Row, below  # noqa: E402

PROBE_LINE = "scalpel-window-shown"
TARGET_S = 1.5
SHIM = f"""
import os, runpy, sys, time
import desktop_app.app as app_module

def _report_shown():
    sys.stderr.write("{PROBE_LINE} %.4f\\n" % time.perf_counter())
    sys.stderr.flush()
    os._exit(0)

app_module.on_window_shown.append(_report_shown)  # the app's start-up seam
sys.argv = ["desktop_app"]
runpy.run_module("desktop_app", run_name="__main__", alter_sys=True)
"""


def app_has_probe() -> bool:
    """Whether the app offers the start-up seam (``desktop_app.app.on_window_shown``)."""
    return "on_window_shown" in (REPO / "desktop_app" / "app.py").read_text(encoding="utf-8")


def launch_command() -> list[str]:
    return [sys.executable, "-c", SHIM]


def launch_env(home: str) -> dict[str, str]:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SCALPEL_HOME": home}


def wait_for_line(process: subprocess.Popen, marker: str, timeout_s: float) -> str:
    """Read the child's stderr until a line holding ``marker``; '' on timeout or exit."""
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.perf_counter() + timeout_s
    try:
        while (left := deadline - time.perf_counter()) > 0:
            if not selector.select(left):
                continue
            line = process.stderr.readline()
            if not line:
                return ""  # the process ended without saying it
            if marker in line:
                return line
    finally:
        selector.close()
    return ""


def stop(process: subprocess.Popen) -> None:
    """Wait for the app, then end what it left behind: the engine process it started in
    the background outlives the probe's ``os._exit`` and would load the next round."""
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if hasattr(os, "killpg"):
        try:
            os.killpg(process.pid, signal.SIGKILL)  # start_new_session: its own group
        except ProcessLookupError:
            pass


def time_one_start(command: list[str], timeout_s: float = 60) -> float:
    """Seconds from launch to the window-shown line, for one fresh process."""
    with tempfile.TemporaryDirectory(prefix="scalpel-start-") as home:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, env=launch_env(home), text=True,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, start_new_session=True)
        line = wait_for_line(process, PROBE_LINE, timeout_s)
        seconds = time.perf_counter() - started
        stop(process)
    if not line:
        raise RuntimeError(f"the app never reported its window within {timeout_s:.0f} s "
                           f"(exit code {process.returncode})")
    return seconds


def cold_starts(rounds: int) -> list[float]:
    """Start times of ``rounds`` launches."""
    if not app_has_probe():
        raise RuntimeError("desktop_app/app.py has no on_window_shown start-up seam, so the "
                           "moment the window is shown cannot be taken")
    return [time_one_start(launch_command()) for _ in range(rounds)]


def start_row(times: list[float]) -> Row:
    median = statistics.median(times)
    return Row(f"Start to a shown window, `python -m desktop_app` (median of "
               f"{len(times)})", f"{median:.2f} s", "-", "-", f"< {TARGET_S} s",
               below(median, TARGET_S))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    times = cold_starts(args.rounds)
    row = start_row(times)
    print(f"{row.metric}: {row.scalpel} (target {row.target}: {row.verdict})")
    print("all rounds: " + ", ".join(f"{t:.2f} s" for t in times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
