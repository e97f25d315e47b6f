"""After a download, Scalpel never touches the network: proven with a socket guard.

The guard is a ``sitecustomize.py`` put first on ``PYTHONPATH``, so it is installed in
every Python process of a session, the engine process the window starts included (it
inherits the environment). Each guarded process appends JSON lines to one file: ``start``
as it begins, ``attempt`` the moment it tries to reach the network (a process may be
killed before it exits), and ``exit`` with its attempt count and the HTTP/Hub modules it
had imported. Loopback and local (AF_UNIX) sockets are allowed: Qt and the app use them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LOG_ENV = "SCALPEL_NET_GUARD_LOG"

SITECUSTOMIZE = textwrap.dedent('''
    """Scalpel's test socket guard (tests/test_offline.py): no connection off this machine."""
    import atexit, ipaddress, json, os, socket, sys

    _LOG = os.environ.get("SCALPEL_NET_GUARD_LOG")
    _WATCHED = ("huggingface_hub", "hf_xet", "httpx", "httpx2", "httpcore", "requests",
                "urllib3", "aiohttp")
    _attempts = []


    def _record(**entry):
        if _LOG:  # one write with O_APPEND: lines from several processes never interleave
            line = json.dumps({"pid": os.getpid(), **entry}) + "\\n"
            fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)


    class NetworkBlocked(ConnectionRefusedError):
        pass


    def _local(host):
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if host is None or host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


    def _attempt(kind, target):
        _attempts.append((kind, repr(target)))
        _record(event="attempt", kind=kind, target=repr(target))
        raise NetworkBlocked(f"network access attempted in a guarded test: {kind} {target!r}")


    def _inet(sock, address):
        return (sock.family in (socket.AF_INET, socket.AF_INET6)
                and not _local(address[0] if isinstance(address, tuple) else address))


    def _guard_connect(original):
        def connect(self, address):
            if _inet(self, address):
                _attempt("connect", address)
            return original(self, address)
        return connect


    def _guard_sendto(original):
        def sendto(self, data, *rest):
            if rest and _inet(self, rest[-1]):
                _attempt("sendto", rest[-1])
            return original(self, data, *rest)
        return sendto


    def _guard_lookup(original, kind):
        def lookup(host, *args, **kwargs):
            if not _local(host):
                _attempt(kind, host)
            return original(host, *args, **kwargs)
        return lookup


    socket.socket.connect = _guard_connect(socket.socket.connect)
    socket.socket.connect_ex = _guard_connect(socket.socket.connect_ex)
    socket.socket.sendto = _guard_sendto(socket.socket.sendto)
    for _name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
        setattr(socket, _name, _guard_lookup(getattr(socket, _name), _name))


    @atexit.register
    def _exit():
        _record(event="exit", attempts=len(_attempts),
                modules=sorted(m for m in sys.modules if m.split(".")[0] in _WATCHED))


    _record(event="start", argv=list(getattr(sys, "orig_argv", [])))
''')


def guarded_env(tmp_path: Path, home: Path) -> tuple[dict[str, str], Path]:
    """An environment whose Python processes all run the guard, and the guard's log."""
    guard_dir = tmp_path / "net-guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    log = tmp_path / "net-guard.jsonl"
    env = {k: v for k, v in os.environ.items()  # the app must be offline without being told
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update({"PYTHONPATH": os.pathsep.join([str(guard_dir), str(REPO),
                                               env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                LOG_ENV: str(log), "SCALPEL_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"})
    return env, log


def guard_records(log: Path) -> dict[int, list[dict]]:
    """The guard's log, by process id."""
    by_pid: dict[int, list[dict]] = {}
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            by_pid.setdefault(entry["pid"], []).append(entry)
    return by_pid


def assert_offline(records: dict[int, list[dict]], *pids: int) -> None:
    """No guarded process tried the network; each of ``pids`` started and exited guarded,
    without importing an HTTP or Hub library."""
    attempts = [e for entries in records.values() for e in entries if e["event"] != "start"
                and (e["event"] == "attempt" or e["attempts"] or e["modules"])]
    assert not attempts, attempts
    for pid in pids:
        events = [e["event"] for e in records.get(pid, [])]
        assert events[:1] == ["start"] and "exit" in events, (pid, records)


def run_python(args: list[str], env: dict[str, str],
               timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def test_the_guard_catches_a_connection_in_a_child_process(tmp_path, scalpel_home):
    """The guard can fail: a grandchild Python (which inherits it through the environment
    only) trying 192.0.2.1 or a name lookup is recorded, while loopback and AF_UNIX work."""
    env, log = guarded_env(tmp_path, scalpel_home)
    grandchild = textwrap.dedent("""
        import socket
        for attempt in (lambda: socket.socket().connect(("192.0.2.1", 443)),
                        lambda: socket.getaddrinfo("huggingface.co", 443)):
            try:
                attempt()
            except ConnectionRefusedError as exc:
                print("blocked:", exc)
        server = socket.create_server(("127.0.0.1", 0))
        socket.create_connection(server.getsockname(), timeout=5).close()
        socket.getaddrinfo("localhost", 80)
        left, right = socket.socketpair()
        left.sendall(b"ok")
        assert right.recv(2) == b"ok"
        print("local ok")
        print("grandchild", __import__("os").getpid())
    """)
    launcher = (f"import subprocess, sys\n"
                f"done = subprocess.run([sys.executable, '-c', {grandchild!r}],"
                f" capture_output=True, text=True)\n"
                f"print(done.stdout, done.stderr)\n")
    result = run_python(["-c", launcher], env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("blocked:") == 2 and "local ok" in result.stdout, result.stdout
    grandchild_pid = int(result.stdout.rsplit("grandchild", 1)[1])
    records = guard_records(log)
    attempts = [(e["kind"], e["target"]) for e in records[grandchild_pid]
                if e["event"] == "attempt"]
    assert attempts == [("connect", "('192.0.2.1', 443)"),
                        ("getaddrinfo", "'huggingface.co'")]
    assert records[grandchild_pid][-1] == {"pid": grandchild_pid, "event": "exit",
                                           "attempts": 2, "modules": []}
    with pytest.raises(AssertionError):
        assert_offline(records)


# The session: the real `scalpel` entry point (cli.main -> run_gui), driven from a timer
# that runs on the event loop's first turn, once the window is shown and its start began.
SESSION = textwrap.dedent("""
    import json, sys, time, traceback
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication
    from desktop_app.cli import main

    app = QApplication(["scalpel"])
    outcome = {"replies": [], "presets": [], "engine_pids": []}
    finished, failures = [], []


    def wait_until(condition, what, timeout_s=300):
        deadline = time.monotonic() + timeout_s
        while not condition():
            if failures:
                raise RuntimeError(f"while waiting for {what}: {failures}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.02)


    def idle(window):
        return (window.chat.model is not None and not window.loading
                and not window.bridge.busy and not window.chat.answering)


    def note_engine(window):
        pid = getattr(window.bridge.engine, "pid", None)  # the engine process, if any
        if pid is not None and pid not in outcome["engine_pids"]:
            outcome["engine_pids"].append(pid)


    def send(window, text):
        count = len(finished)
        window.prompt.setPlainText(text)
        QTest.keyClick(window.prompt, Qt.Key.Key_Return)
        wait_until(lambda: len(finished) > count and idle(window), "the answer")
        note_engine(window)
        outcome["replies"].append(finished[-1].text)
        outcome["presets"].append(window.chat.preset.id)


    def drive():
        windows = [w for w in app.topLevelWidgets()
                   if type(w).__name__ == "MainWindow" and w.isVisible()]
        if not windows:  # an event loop turned before run_gui showed the window
            QTimer.singleShot(20, drive)
            return
        window = windows[0]
        try:
            window.bridge.reply_finished.connect(finished.append)
            window.bridge.reply_failed.connect(failures.append)
            window.bridge.model_load_failed.connect(lambda path, message: failures.append(message))
            wait_until(lambda: idle(window), "the model to load")
            note_engine(window)
            send(window, "Say hello in five words.")
            window.tasks.actions["summarize"].trigger()  # Task > Summarize
            assert window.chat.preset.id == "summarize", window.chat.preset.id
            wait_until(lambda: idle(window), "the task's model")
            send(window, "The team meeting moved from Monday to Wednesday at 10 because the "
                         "room was booked. Lunch is provided. Bring the quarterly figures.")
        except BaseException:
            outcome["error"] = traceback.format_exc()
        window.close()
        app.quit()


    QTimer.singleShot(0, drive)
    code = main([])
    print("SESSION-OUTCOME " + json.dumps(outcome), flush=True)
    sys.exit(code)
""")


def test_a_whole_session_makes_no_network_request(tmp_path, scalpel_home, smollm2_path):
    """Start, load, chat, switch task, chat, quit: no guarded process reaches the network."""
    env, log = guarded_env(tmp_path, scalpel_home)
    result = run_python(["-c", SESSION], env)
    lines = [line for line in result.stdout.splitlines() if line.startswith("SESSION-OUTCOME ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    outcome = json.loads(lines[-1].split(" ", 1)[1])
    assert "error" not in outcome, outcome["error"]
    assert outcome["presets"] == ["auto", "summarize"]   # Auto first, as on a new install
    assert len(outcome["replies"]) == 2 and all(r.strip() for r in outcome["replies"]), outcome
    records = guard_records(log)
    session_pid = next(pid for pid, entries in records.items()
                       if entries[0].get("argv", [])[1:3] == ["-c", SESSION])
    assert_offline(records, session_pid, *outcome["engine_pids"])


def test_the_cli_chat_makes_no_network_request(tmp_path, scalpel_home, smollm2_path):
    env, log = guarded_env(tmp_path, scalpel_home)
    result = run_python(["-m", "desktop_app", "chat", "--model", str(smollm2_path),
                         "--temperature", "0", "--max-tokens", "8", "Say hi"], env)
    assert result.returncode == 0 and result.stdout.strip(), result.stderr[-3000:]
    records = guard_records(log)
    assert records, "the guard did not run"
    assert_offline(records, *records)


# Escalation off by default: services, an engine process, a session that answers, the
# escalation config resolved and every check that could lead to the bigger model.
ESCALATION_OFF = textwrap.dedent("""
    import json, sys
    from desktop_app.core.escalation import (UsageLog, decide, remote_engine_for,
                                             resolve_escalation)
    from desktop_app.core.paths import Paths
    from desktop_app.core.services import build_services

    services = build_services(Paths.from_environment())
    engine = services.new_engine_process()
    engine.load(sys.argv[1], services.load_options(), name="SmolLM2")
    session = services.new_session(engine)
    assert session.send("Say hi"), "the session refused the message"
    assert session.wait_idle(120), "no answer"
    config = resolve_escalation(services.policy, services.settings)
    remote = remote_engine_for(config, services.policy)
    allowed = decide(config, preset_id="general", asked=True)
    usage = UsageLog(services.paths.usage_log_file).summary(30)
    session.close()
    engine.unload()
    print("ESCALATION " + json.dumps({"mode": config.mode, "source": config.source,
                                      "remote": remote is not None, "allowed": allowed.allowed,
                                      "engine_pid": engine.pid,
                                      "history": len(session.history)}))
""")


def test_escalation_off_by_default_makes_no_network_request(tmp_path, scalpel_home,
                                                            smollm2_path):
    env, log = guarded_env(tmp_path, scalpel_home)
    result = run_python(["-c", ESCALATION_OFF, str(smollm2_path)], env, timeout=300)
    lines = [line for line in result.stdout.splitlines() if line.startswith("ESCALATION ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    outcome = json.loads(lines[-1].split(" ", 1)[1])
    assert outcome["mode"] == "off" and outcome["source"] == "default", outcome
    assert not outcome["remote"] and not outcome["allowed"] and outcome["history"] == 2
    for args in (["route", "--json", "Summarize this: " + "words " * 4000], ["route", "stats"]):
        routed = run_python(["-m", "desktop_app", *args], env)
        assert routed.returncode == 0, routed.stderr[-3000:]
    records = guard_records(log)
    assert len(records) >= 4, records   # the script, its engine process, two commands
    assert_offline(records, *records)
