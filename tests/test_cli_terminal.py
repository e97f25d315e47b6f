"""What the ``scalpel`` command prints on the terminal: Scalpel's own sentences only.

Library log records (huggingface_hub's retries, llama.cpp's native log) go to
scalpel.log, or to stderr as well with --verbose; a file problem is one line, never
a traceback. Each runs the real command in its own process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from desktop_app.core.errors import ExitCode, ScalpelError, UsageError

NATIVE_WARNING = ("llama_context: n_ctx_seq (512) > n_ctx_train (256) -- possible training "
                  "context overflow")

# The real command in a process of its own, with one change each, made before it runs:
# huggingface_hub's backoff (1+2+4+8+8 s between its 6 tries) does not sleep, and
# `scalpel doctor` logs what llama.cpp's log bridge logs for a native warning.
NO_BACKOFF_SLEEP = "import time\ntime.sleep = lambda seconds: None\n"
NATIVE_WARNING_IN_DOCTOR = textwrap.dedent(f"""
    import logging
    from desktop_app.cli import doctor
    collect_report = doctor.collect_report
    def noisy_collect_report(services):
        logging.getLogger("llama_cpp.native").warning({NATIVE_WARNING!r})
        return collect_report(services)
    doctor.collect_report = noisy_collect_report
""")
RUN_MAIN = "import sys\nfrom desktop_app.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def run_cli(prelude: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "HF_ENDPOINT"}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-c", prelude + RUN_MAIN, *args], env=environ,
                          capture_output=True, text=True, errors="replace", timeout=300)


def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_text(home: Path) -> str:
    return (home / "logs" / "scalpel.log").read_text(encoding="utf-8")


def test_download_from_an_unreachable_hub_is_one_line_and_the_retries_are_logged(scalpel_home,
                                                                                 make_hub):
    port = closed_port()
    result = run_cli(NO_BACKOFF_SLEEP, "models", "download", "smollm2-135m-instruct",
                     env={"HF_ENDPOINT": f"http://127.0.0.1:{port}"})
    assert result.returncode == ExitCode.FAILURE
    assert result.stderr.splitlines() == [
        f"scalpel: offline: cannot reach 127.0.0.1:{port} (the connection was refused); "
        "check the network connection or proxy settings"]
    assert result.stdout == ""
    hub = make_hub(status=503)   # reachable but failing: huggingface_hub retries, in the log
    result = run_cli(NO_BACKOFF_SLEEP, "models", "download", "smollm2-135m-instruct",
                     env={"HF_ENDPOINT": hub.url})
    assert result.returncode == ExitCode.FAILURE
    assert len(result.stderr.splitlines()) == 1 and "HTTP 503" in result.stderr
    log = log_text(scalpel_home)  # huggingface_hub's own words are kept, in the log file
    assert "WARNING huggingface_hub" in log and "Retrying in" in log


def test_verbose_shows_every_log_record_on_stderr_too(scalpel_home, make_hub):
    hub = make_hub(status=503)   # reachable but failing, so huggingface_hub retries
    result = run_cli(NO_BACKOFF_SLEEP, "--verbose", "models", "download",
                     "smollm2-135m-instruct", env={"HF_ENDPOINT": hub.url})
    lines = result.stderr.splitlines()
    assert result.returncode == ExitCode.FAILURE
    assert lines[-1].startswith("scalpel: ") and "HTTP 503" in lines[-1]
    retries = [line for line in lines if "Retrying in" in line]
    # once each: through the root logger's handler, not also through huggingface_hub's own
    assert len(retries) == 5 and all(r.startswith("WARNING huggingface_hub") for r in retries)


def test_a_llama_cpp_native_warning_goes_to_the_log_file_not_the_terminal(scalpel_home):
    result = run_cli(NATIVE_WARNING_IN_DOCTOR, "doctor")
    assert result.returncode == ExitCode.OK, result.stderr
    assert result.stderr == ""
    assert "possible training context overflow" not in result.stdout
    assert f"WARNING llama_cpp.native: {NATIVE_WARNING}" in log_text(scalpel_home)
    verbose = run_cli(NATIVE_WARNING_IN_DOCTOR, "-v", "doctor")
    assert f"WARNING llama_cpp.native: {NATIVE_WARNING}" in verbose.stderr


def test_a_data_folder_under_a_file_is_one_line_with_the_path(tmp_path, scalpel):
    in_the_way = tmp_path / "afile"
    in_the_way.write_text("not a folder")
    result = scalpel("models", "list", env={"SCALPEL_HOME": str(in_the_way / "home")})
    assert result.returncode == ExitCode.FAILURE
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("scalpel: ") and str(in_the_way) in result.stderr
    assert "Traceback" not in result.stderr and "Errno" not in result.stderr


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root may write into a read-only folder")
def test_a_read_only_data_folder_is_one_line_with_the_path(tmp_path, scalpel):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = scalpel("models", "list", env={"SCALPEL_HOME": str(locked / "home")})
    finally:
        locked.chmod(0o755)
    assert result.returncode == ExitCode.FAILURE
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert str(locked) in result.stderr and "Traceback" not in result.stderr


def test_a_download_folder_under_a_file_is_one_line_with_the_path(hub, tmp_path, scalpel):
    in_the_way = tmp_path / "afile"
    in_the_way.write_text("not a folder")
    result = scalpel("models", "download", "smollm2-135m-instruct",
                     "--dir", str(in_the_way / "store"), env={"HF_ENDPOINT": hub.url})
    assert result.returncode == ExitCode.FAILURE
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"scalpel: cannot use {in_the_way / 'store'}")
    assert "not a folder" in result.stderr and "Traceback" not in result.stderr


def test_a_log_file_that_is_a_folder_is_one_line(scalpel_home, scalpel):
    (scalpel_home / "logs" / "scalpel.log").mkdir(parents=True)
    result = scalpel("presets", "list")
    assert result.returncode == ExitCode.FAILURE
    assert result.stderr.splitlines() == [
        f"scalpel: cannot use {scalpel_home / 'logs' / 'scalpel.log'}: Is a directory; "
        "Scalpel keeps its files there: check that folder and its permissions, or set "
        "SCALPEL_HOME to a folder you can write to"]


def test_usage_errors_are_scalpel_errors_with_exit_code_2(scalpel):
    assert issubclass(UsageError, ScalpelError) and UsageError.exit_code == ExitCode.USAGE == 2
    result = scalpel("policy")
    assert result.returncode == ExitCode.USAGE
    assert result.stderr == ("scalpel: error: say `scalpel policy show` or "
                             "`scalpel policy check FILE`\n")


def test_python_dash_m_desktop_app_cli_runs_the_command():
    result = subprocess.run([sys.executable, "-m", "desktop_app.cli", "--version"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("scalpel ")


def test_the_window_imports_nothing_from_the_command_line():
    """The policy dialog's text comes from the core, as `scalpel policy show` prints it."""
    code = ("import sys, desktop_app.ui.managed, desktop_app.ui.main_window, desktop_app.app\n"
            "print(desktop_app.ui.managed.format_policy.__module__)\n"
            "print(sorted(m for m in sys.modules if m.startswith('desktop_app.cli')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["desktop_app.core.policy.describe", "[]"]


def test_a_damaged_settings_file_is_still_told_on_the_terminal(scalpel_home, scalpel):
    """Its warning used to reach the terminal as a log record; now it is a note of its own."""
    settings = scalpel_home / "config" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text("{not json", encoding="utf-8")
    result = scalpel("models", "list", "--json")
    assert result.returncode == ExitCode.OK, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("scalpel: note: settings file"), lines
    assert "WARNING" not in result.stderr
