"""One window per data folder (issue 20, part 5): a second start brings the open window
forward and hands it ``--model``; another data folder, or a crashed window's socket left
behind, does not stop a start. Real processes; the message handling also in-process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from desktop_app.core.models import display_name_for
from desktop_app.ui import single_instance
from desktop_app.ui.single_instance import SingleInstance
from desktop_app.ui.single_instance_wire import (
    MAX_MESSAGE_BYTES, WindowRequest, decode_request, encode_request, server_name)

posix_only = pytest.mark.skipif(os.name != "posix", reason="Unix sockets")
ALREADY_OPEN = "scalpel: Scalpel is already open; its window was brought forward."


@pytest.fixture
def short_tmp():
    """A short folder for sockets (a Unix socket path must stay under ~100 bytes)."""
    folder = tempfile.mkdtemp(prefix="sc-")
    yield Path(folder)
    shutil.rmtree(folder, ignore_errors=True)


# -- the message ------------------------------------------------------------------------

def test_a_request_survives_the_wire_odd_file_names_included():
    request = WindowRequest(model="/models/caf\u00e9 \udcff.gguf", activation_token="tok")
    data = encode_request(request)
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert decode_request(data[:-1]) == request
    assert decode_request(b'{"activate": true, "model": null, "future_key": 1}') \
        == WindowRequest(activate=True, model=None)


@pytest.mark.parametrize("line", [
    b"x" * (MAX_MESSAGE_BYTES + 1),
    b'{"activate": true, "model": "' + b"a" * MAX_MESSAGE_BYTES + b'"}',
    b"not json",
    b"\xff\xfe{}",
    b'["activate", true]',
    b'{"activate": "yes"}',
    b'{"activate": true, "model": 5}',
    b'{"activate": true, "model": ""}',
    b'{"activate": true, "model": "a\\u0000b"}',
    b'{"activate": true, "activation_token": ["t"]}',
    b"[" * 20_000 + b"]" * 20_000,
])
def test_malformed_or_oversized_messages_are_ignored(line):
    assert decode_request(line[:MAX_MESSAGE_BYTES + 100]) is None


def test_the_name_follows_the_data_folder_not_the_spelling(tmp_path):
    one, two = tmp_path / "one" / "data", tmp_path / "two" / "data"
    one.mkdir(parents=True)
    two.mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "one")
    environ = {}
    assert server_name(one, environ=environ) != server_name(two, environ=environ)
    assert server_name(one, environ=environ) == server_name(tmp_path / "link" / "data",
                                                            environ=environ)


@posix_only
def test_the_socket_goes_in_the_private_runtime_folder_only_when_it_is_private(tmp_path):
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    runtime.chmod(0o700)
    name = server_name(tmp_path, environ={"XDG_RUNTIME_DIR": str(runtime)}, temp_dir="/tmp")
    assert Path(name).parent == runtime and Path(name).name.startswith("scalpel-")
    runtime.chmod(0o777)  # anyone could put a socket there: not used
    assert Path(server_name(tmp_path, environ={"XDG_RUNTIME_DIR": str(runtime)},
                            temp_dir="/tmp")).parent == Path("/tmp")
    too_long = "/tmp/" + "x" * 120
    assert "/" not in server_name(tmp_path, environ={}, temp_dir=too_long)  # Qt's own folder


# -- the open window's side, in this process ------------------------------------------------

def _closed(sock: socket.socket, received: bytearray) -> bool:
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    received += data
    return not data


@posix_only
def test_the_listener_acts_on_a_request_and_drops_bad_or_silent_ones(
        qtbot, short_tmp, monkeypatch):
    guard = SingleInstance(str(short_tmp / "s"))
    assert guard.forward_or_listen(WindowRequest()) is False and guard.listening
    seen: list[WindowRequest] = []
    guard.serve(seen.append)

    def exchange(payload: bytes) -> bytes:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(guard.name)
        client.sendall(payload)
        client.setblocking(False)
        received = bytearray()
        qtbot.waitUntil(lambda: _closed(client, received), timeout=2000)  # < the time limit
        client.close()
        return bytes(received)

    assert exchange(b"y" * (MAX_MESSAGE_BYTES + 10)) == b""  # no newline, too long
    assert exchange(b'{"activate": 1}\n') == b""
    monkeypatch.setattr(single_instance, "REQUEST_TIMEOUT_MS", 300)
    assert exchange(b"") == b""  # says nothing: dropped after REQUEST_TIMEOUT_MS
    assert seen == []
    answer = exchange(b'{"activate": true, "model": "/m.gguf"}\n')
    assert json.loads(answer) == {"ok": True}
    assert seen == [WindowRequest(model="/m.gguf")]
    guard.close()
    assert not (short_tmp / "s").exists()


@posix_only
def test_another_users_socket_is_never_talked_to(short_tmp, monkeypatch, qapp):
    squatted = short_tmp / "s"
    squatted.write_text("")
    monkeypatch.setattr(single_instance.os, "getuid", lambda: squatted.stat().st_uid + 1)
    guard = SingleInstance(str(squatted))
    assert guard.forward_or_listen(WindowRequest(model="/private.gguf")) is False
    assert not guard.listening and squatted.read_text() == ""


def test_the_window_comes_forward_and_opens_the_model(qtbot):
    from PySide6.QtWidgets import QWidget

    class Window(QWidget):
        def __init__(self):
            super().__init__()
            self.opened = []

        def open_model_file(self, path):
            self.opened.append(path)

    window = Window()
    qtbot.addWidget(window)
    window.showMinimized()
    single_instance.bring_forward(window, WindowRequest(model="/m.gguf"))
    assert window.isVisible() and not window.isMinimized()
    assert window.opened == ["/m.gguf"]
    single_instance.bring_forward(window, WindowRequest())
    assert window.opened == ["/m.gguf"]


# -- starts in their own processes, without a window ----------------------------------------

DRIVER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from PySide6.QtCore import QCoreApplication
    from desktop_app.ui.single_instance import (SingleInstance, WindowNotAnsweringError,
                                                WindowRequest)

    app = QCoreApplication([])
    name, lock, model, timeout_ms = sys.argv[1], sys.argv[2], sys.argv[3] or None, sys.argv[4]
    guard = SingleInstance(name, lock_path=Path(lock), answer_timeout_ms=int(timeout_ms))
    time.sleep(max(0.0, float(sys.argv[5]) - time.time()))  # starts that race: all at once
    try:
        if guard.forward_or_listen(WindowRequest(model=model)):
            print("forwarded", flush=True)
            sys.exit(0)
    except WindowNotAnsweringError as exc:
        print("not answering:", exc, flush=True)
        sys.exit(3)
    print("listening" if guard.listening else "unguarded", flush=True)
    guard.serve(lambda request: print("request", request.model, flush=True))
    app.exec()
""")


class Starts:
    """Driver processes sharing one socket name; each is killed (its group) at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.name, self.processes = folder, str(folder / "s"), []

    def start(self, model: str = "", timeout_ms: int = 10_000,
              at: float = 0.0) -> tuple[subprocess.Popen, Path]:
        """One more start, its claim made at ``at`` (time.time()) or at once."""
        out = self.folder / f"out{len(self.processes)}"
        with open(out, "wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-c", DRIVER, self.name, str(self.folder / "lock"), model,
                 str(timeout_ms), str(at)], stdout=sink, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.processes.append(process)
        return process, out

    def kill_all(self) -> None:
        for process in self.processes:
            _kill_group(process)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(30)


def wait_for(path: Path, text: str, *, count: int = 1, timeout_s: float = 60,
             process=None) -> str:
    """``path``'s text once ``text`` is in it ``count`` times; fails if ``process`` ends."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        content = path.read_text("utf-8", "replace") if path.exists() else ""
        if content.count(text) >= count:
            return content
        if process is not None and process.poll() is not None:
            time.sleep(0.3)
            content = path.read_text("utf-8", "replace") if path.exists() else ""
            if content.count(text) >= count:
                return content
            raise AssertionError(f"the process ended ({process.returncode}): {content[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"not {count} x {text!r} in {path} after {timeout_s} s")


@pytest.fixture
def starts(short_tmp):
    group = Starts(short_tmp)
    yield group
    group.kill_all()


@posix_only
def test_starts_at_the_same_moment_give_one_listener_that_gets_the_others(starts):
    at = time.time() + 3  # after each has imported Qt
    launched = [starts.start(model=f"m{i}", at=at) for i in range(3)]
    deadline = time.monotonic() + 60
    while sum(p.poll() is not None for p, _ in launched) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    outputs = [out.read_text() for _, out in launched]
    listeners = [i for i, (p, _) in enumerate(launched) if p.poll() is None]
    assert len(listeners) == 1, outputs
    forwarded = [i for i in range(3) if i not in listeners]
    assert all(launched[i][0].returncode == 0 and outputs[i] == "forwarded\n"
               for i in forwarded), outputs
    content = wait_for(launched[listeners[0]][1], f"request m{forwarded[-1]}")
    assert content.startswith("listening\n")
    assert sorted(content.split()[2::2]) == sorted(f"m{i}" for i in forwarded), content


@posix_only
def test_a_crashed_starts_socket_is_replaced_and_a_frozen_one_is_reported(starts):
    first, out = starts.start()
    wait_for(out, "listening", process=first)
    _kill_group(first)
    assert Path(starts.name).exists()  # left behind by the kill
    second, out = starts.start()
    wait_for(out, "listening", process=second)

    os.kill(second.pid, signal.SIGSTOP)  # holds the socket, never answers
    try:
        third, out = starts.start(model="m", timeout_ms=1000)
        assert third.wait(30) == 3
        assert "already open on this data folder but its window does not respond" \
            in out.read_text()
    finally:
        os.kill(second.pid, signal.SIGCONT)


# -- the real window ---------------------------------------------------------------------

class Windows:
    """``python -m desktop_app`` processes, offscreen, sockets in a short temp folder."""

    def __init__(self, sockets: Path) -> None:
        self.sockets, self.processes = sockets, []

    def env(self, home: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
        env.update(QT_QPA_PLATFORM="offscreen", SCALPEL_HOME=str(home), TMPDIR=str(self.sockets))
        return env

    def open(self, home: Path) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", "desktop_app"], env=self.env(home),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        self.processes.append(process)
        return process

    def run(self, home: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "desktop_app", *args], env=self.env(home),
                              capture_output=True, text=True, timeout=60)

    def kill_all(self) -> None:
        for process in self.processes:
            _kill_group(process)


def log_of(home: Path) -> Path:
    return home / "logs" / "scalpel.log"


@pytest.fixture
def windows(short_tmp):
    group = Windows(short_tmp)
    yield group
    group.kill_all()


@posix_only
@pytest.mark.model
def test_a_second_start_brings_the_window_forward_with_its_model(
        windows, tmp_path, smollm2_copy):
    home = tmp_path / "home"
    first = windows.open(home)
    wait_for(log_of(home), "loaded SmolLM2", timeout_s=120, process=first)

    started = time.monotonic()
    second = windows.run(home, "--model", str(smollm2_copy))
    assert second.returncode == 0, second.stderr
    assert time.monotonic() - started < 15
    assert second.stderr.strip() == ALREADY_OPEN and second.stdout == ""
    wait_for(log_of(home), f"loaded {display_name_for(smollm2_copy)} (", timeout_s=120,
             process=first)
    assert first.poll() is None
    assert log_of(home).read_text().count("single instance: listening") == 1


@posix_only
@pytest.mark.model
def test_another_data_folder_or_a_crashed_windows_socket_does_not_stop_a_start(
        windows, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    first = windows.open(one)
    wait_for(log_of(one), "single instance: listening", process=first)
    other = windows.open(two)  # its own data folder: its own window
    wait_for(log_of(two), "single instance: listening", process=other)
    assert first.poll() is None and other.poll() is None

    socket_path = server_name(one / "data", environ={}, temp_dir=str(windows.sockets))
    _kill_group(first)
    assert Path(socket_path).exists()  # what the crash left
    again = windows.open(one)
    wait_for(log_of(one), "single instance: listening", count=2, process=again)
    time.sleep(1)
    assert again.poll() is None
