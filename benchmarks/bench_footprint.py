"""The app at rest: idle CPU after a reply, and memory beyond the mmapped model.

In a fresh process (so nothing of the benchmark suite is counted), the real
window is built the way ``app.run_gui`` builds it (offscreen), ``start()``
loads the default model (the starter SmolLM2) through the app's own engine
path, one question is sent and answered. Then:

- idle CPU: CPU time of the process and all its children (an engine in a child
  process included) over 5 s, starting 1 s after the reply finished, as a
  percentage of one core (target < 2 %);
- memory: RSS of the process tree minus the resident pages of the GGUF's own
  file mapping, read from /proc/<pid>/smaps (target < 250 MB).

    python benchmarks/bench_footprint.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from benchmarks.report import Row, below, markdown_table  # noqa: E402

QUESTION = "In one sentence, what does a lighthouse keeper do?"
SETTLE_S, IDLE_S = 1.0, 5.0
IDLE_TARGET_PCT, RSS_TARGET_MB = 2.0, 250.0


# -- the process tree --------------------------------------------------------------------
def process_tree(pid: int) -> list:
    import psutil

    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and every live descendant."""
    import psutil

    total = 0.0
    for process in process_tree(pid):
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread of the tree, keyed ``pid/tid name``."""
    import psutil

    result = {}
    for process in process_tree(pid):
        try:
            for thread in process.threads():
                comm = Path(f"/proc/{process.pid}/task/{thread.id}/comm")
                name = comm.read_text().strip() if comm.exists() else "?"
                result[f"{process.pid}/{thread.id} {name}"] = thread.user_time + thread.system_time
        except (psutil.NoSuchProcess, OSError):
            pass
    return result


def smaps_rss_kb(pid: int, mapped_file: str) -> tuple[int, int]:
    """(all resident kB, resident kB of mappings of ``mapped_file``) from /proc/<pid>/smaps."""
    total = in_file = 0
    current_path = ""
    with open(f"/proc/{pid}/smaps", encoding="utf-8", errors="replace") as smaps:
        for line in smaps:
            first = line.split(maxsplit=1)[0]
            if not first.endswith(":"):  # a mapping header: "addr perms offset dev inode [path]"
                parts = line.split(maxsplit=5)
                current_path = parts[5].strip() if len(parts) > 5 else ""
            elif first == "Rss:":
                kb = int(line.split()[1])
                total += kb
                if current_path == mapped_file:
                    in_file += kb
    return total, in_file


def tree_memory_mb(pid: int, model_path: str) -> dict[str, float]:
    """RSS of the tree, the model file's resident pages, and the difference, in MB."""
    model = os.path.realpath(model_path)
    total = in_model = 0
    for process in process_tree(pid):
        rss, mapped = smaps_rss_kb(process.pid, model)
        total, in_model = total + rss, in_model + mapped
    return {"rss_mb": total / 1024, "model_mapped_mb": in_model / 1024,
            "beyond_model_mb": (total - in_model) / 1024, "processes": len(process_tree(pid))}


# -- driving the app ----------------------------------------------------------------------
def wait_for(signal, timeout_s: float, accept=lambda *args: True) -> tuple:
    """Run the event loop until ``signal`` fires with accepted arguments."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop, got = QEventLoop(), []

    def slot(*args) -> None:
        if accept(*args):
            got.append(args)
            loop.quit()

    signal.connect(slot)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    signal.disconnect(slot)
    if not got:
        raise TimeoutError(f"no {signal} within {timeout_s:.0f} s")
    return got[0]


def run_loop(seconds: float) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def window_after_one_reply():
    """The app's window with its default model loaded and one question answered."""
    from PySide6.QtWidgets import QApplication

    from desktop_app.app import create_window
    from desktop_app.core.paths import Paths
    from desktop_app.core.services import build_services

    app = QApplication.instance() or QApplication([])
    services = build_services(Paths.under(Path(tempfile.mkdtemp(prefix="scalpel-bench-"))))
    window = create_window(services)
    window.show()
    window.start(None)  # as run_gui does: loads the default model in the background
    wait_for(window.bridge.model_loaded, 120)
    replies = []
    window.bridge.reply_finished.connect(replies.append)
    window.panel.send(QUESTION)
    wait_for(window.chat.answering_changed, 300, accept=lambda answering: not answering)
    if not replies:
        raise RuntimeError("the question got no reply")
    return app, window, replies[0]


def measure_in_this_process() -> dict:
    app, window, reply = window_after_one_reply()
    pid = os.getpid()
    cpu0 = tree_cpu_seconds(pid)
    run_loop(SETTLE_S)
    cpu1, threads1, wall1 = tree_cpu_seconds(pid), thread_cpu(pid), time.perf_counter()
    run_loop(IDLE_S)
    cpu2, threads2, wall2 = tree_cpu_seconds(pid), thread_cpu(pid), time.perf_counter()
    busiest = sorted(((threads2[k] - threads1.get(k, 0.0), k) for k in threads2), reverse=True)
    figures = {"settle_cpu_pct": (cpu1 - cpu0) / SETTLE_S * 100,
               "idle_cpu_pct": (cpu2 - cpu1) / (wall2 - wall1) * 100,
               "busiest_threads": [[name, round(s * 1000, 1)] for s, name in busiest[:3]],
               "model": window.chat.model.path,
               "reply_tokens": reply.stats.completion_tokens}
    figures.update(tree_memory_mb(pid, window.chat.model.path))
    window.close()
    app.quit()
    return figures


# -- the suite's side ---------------------------------------------------------------------
def measure(timeout_s: float = 600) -> dict:
    """Run this benchmark in a fresh process and return its figures."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, __file__, "--json"], capture_output=True, text=True,
                          env=env, timeout=timeout_s)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"bench_footprint failed ({done.returncode}): {done.stderr[-400:]}")
    return json.loads(lines[-1])


def idle_row(f: dict) -> Row:
    return Row(f"Idle CPU, {SETTLE_S:.0f}-{SETTLE_S + IDLE_S:.0f} s after a reply "
               f"(process tree, % of one core)", f"{f['idle_cpu_pct']:.2f} %", "0 %", "-",
               f"< {IDLE_TARGET_PCT:.0f} %", below(f["idle_cpu_pct"], IDLE_TARGET_PCT))


def rss_row(f: dict) -> Row:
    return Row(f"RSS beyond the mmapped model, after load + 1 reply ({f['processes']} "
               "process(es))", f"{f['beyond_model_mb']:.0f} MB",
               f"RSS {f['rss_mb']:.0f} MB − model pages {f['model_mapped_mb']:.0f} MB", "-",
               f"< {RSS_TARGET_MB:.0f} MB", below(f["beyond_model_mb"], RSS_TARGET_MB))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="measure here, print JSON")
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure_in_this_process()))
        return 0
    figures = measure()
    print(markdown_table([idle_row(figures), rss_row(figures)]))
    print(f"\nreply: {figures['reply_tokens']} tokens; busiest threads while idle (ms of CPU): "
          f"{figures['busiest_threads']}; "
          f"CPU in the first {SETTLE_S:.0f} s after the reply: {figures['settle_cpu_pct']:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
