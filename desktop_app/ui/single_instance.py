"""One window per data folder: a second start hands its request to the window already open.

Two windows on one chat store would each move the branch the other is on. So the window
listens on a local socket (a named pipe on Windows) named after the data folder and the
user; a later start on the same folder connects, sends one request (come forward, perhaps
open a model) and ends. Other data folders (another ``SCALPEL_HOME``) are independent.

The wire (``single_instance_wire``): one line of JSON, ``{"activate": true, "model":
"ID|PATH" or null, ...}``, answered ``{"ok": true}`` once the window has acted; anything
else, or too long, is ignored and the connection dropped. Only the same user can connect
(``UserAccessOption``: the socket is mode 0700, the pipe's ACL the user's).

Connecting, and listening when nobody answered, happen under a lock file in the data
folder: Qt's ``listen`` with access options replaces an existing socket file instead of
failing, so two starts at the same moment would otherwise both listen. A socket left by a
window that crashed refuses connections; only then is it removed and listened on afresh.
"""

from __future__ import annotations

import logging
import os
import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QLockFile, QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from ..core.errors import ScalpelError
from .single_instance_wire import (ANSWER, MAX_MESSAGE_BYTES, WindowRequest, decode_request,
                                   encode_request, is_answer, server_name)

if TYPE_CHECKING:
    from .main_window import MainWindow

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_MS = 2_000
ANSWER_TIMEOUT_MS = 10_000      # the open window acts on its event loop's next turn
REQUEST_TIMEOUT_MS = 5_000      # a connection that sends no whole request is dropped
LOCK_TIMEOUT_MS = 20_000        # another start holds the lock for at most one answer's wait
ATTEMPTS = 3                    # connections dropped unanswered (that window was closing)
LOCK_FILE_NAME = "window.lock"


class WindowNotAnsweringError(ScalpelError):
    """A window holds this data folder but did not take the request."""


class _Outcome(Enum):
    TAKEN = "taken"          # the open window answered
    NOBODY = "nobody"        # no window: nothing there, or a crashed one's socket
    DROPPED = "dropped"      # connected, then closed unanswered
    SILENT = "silent"        # connected, never answered
    UNUSABLE = "unusable"    # another user's file, or a socket error: go on without a guard


class SingleInstance(QObject):
    """This process's claim on a data folder's window (see the module's docstring)."""

    def __init__(self, name: str, *, lock_path: Path | None = None,
                 parent: QObject | None = None,
                 answer_timeout_ms: int = ANSWER_TIMEOUT_MS) -> None:
        super().__init__(parent)
        self.name = name
        self._lock_path = lock_path
        self._answer_timeout_ms = answer_timeout_ms
        self._server: QLocalServer | None = None
        self._handler: Callable[[WindowRequest], None] | None = None
        self._queued: list[WindowRequest] = []

    @classmethod
    def for_data_dir(cls, data_dir: Path, **options) -> "SingleInstance":
        return cls(server_name(data_dir), lock_path=Path(data_dir) / LOCK_FILE_NAME, **options)

    @property
    def listening(self) -> bool:
        return self._server is not None

    # -- a start ---------------------------------------------------------------------
    def forward_or_listen(self, request: WindowRequest) -> bool:
        """True when an open window took ``request`` (this start should end); False when
        this process is now the one that listens, or cannot listen (logged; its window
        opens all the same). WindowNotAnsweringError when a window holds the folder but
        never answers."""
        lock = self._take_lock()
        try:
            for _attempt in range(ATTEMPTS):
                outcome = self._forward(request)
                if outcome is _Outcome.TAKEN:
                    return True
                if outcome is _Outcome.NOBODY:
                    QLocalServer.removeServer(self.name)  # a crashed window's socket
                    self._listen()
                    return False
                if outcome is _Outcome.UNUSABLE:
                    return False
                if outcome is _Outcome.SILENT:
                    break
                time.sleep(0.2)  # DROPPED: that window is closing; let it finish
            raise WindowNotAnsweringError(
                "Scalpel is already open on this data folder but its window does not "
                "respond; close it (or end its process) and start Scalpel again")
        finally:
            if lock is not None:
                lock.unlock()

    def _take_lock(self) -> QLockFile | None:
        if self._lock_path is None:
            return None
        lock = QLockFile(str(self._lock_path))
        if lock.tryLock(LOCK_TIMEOUT_MS):
            return lock
        log.warning("could not take %s (%s); checking for an open window without it",
                    self._lock_path, lock.error().name)
        return None

    def _forward(self, request: WindowRequest) -> _Outcome:
        if self._foreign_socket():
            return _Outcome.UNUSABLE
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
            if socket.error() in (QLocalSocket.LocalSocketError.ServerNotFoundError,
                                  QLocalSocket.LocalSocketError.ConnectionRefusedError):
                return _Outcome.NOBODY
            log.warning("cannot reach an open window at %s (%s); opening another",
                        self.name, socket.errorString())
            return _Outcome.UNUSABLE
        socket.write(encode_request(request))
        answer = bytearray()
        deadline = time.monotonic() + self._answer_timeout_ms / 1000
        while b"\n" not in answer and len(answer) <= 1024:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                socket.abort()
                return _Outcome.SILENT
            ready = socket.waitForReadyRead(min(left_ms, 500))
            answer += bytes(socket.readAll().data())
            if not ready and socket.state() != QLocalSocket.LocalSocketState.ConnectedState:
                break
        socket.abort()
        return _Outcome.TAKEN if is_answer(bytes(answer)) else _Outcome.DROPPED

    def _foreign_socket(self) -> bool:
        """Whether the socket path is another user's (a shared temp folder): never talk to
        it, and it cannot be replaced."""
        if os.name != "posix" or not os.path.isabs(self.name):
            return False
        try:
            owner = os.lstat(self.name).st_uid
        except OSError:
            return False
        if owner == os.getuid():
            return False
        log.warning("%s belongs to another user; a second start will open another window",
                    self.name)
        return True

    def _listen(self) -> None:
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            log.warning("cannot listen on %s (%s); a second start will open another window",
                        self.name, server.errorString())
            server.deleteLater()
            return
        server.newConnection.connect(self._accept)
        self._server = server
        log.info("single instance: listening on %s", server.fullServerName())

    # -- the open window ---------------------------------------------------------------
    def serve(self, handler: Callable[[WindowRequest], None]) -> None:
        """Give requests to ``handler`` from now on (those that came before, at once)."""
        self._handler = handler
        queued, self._queued = self._queued, []
        for request in queued:
            self._deliver(request)

    def close(self) -> None:
        """Stop listening (the socket file goes): the next start opens its own window."""
        if self._server is not None:
            self._server.close()
            self._server.deleteLater()
            self._server = None

    def _accept(self) -> None:
        while self._server is not None and self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            buffer = bytearray()
            timer = QTimer(socket)
            timer.setSingleShot(True)
            timer.timeout.connect(lambda s=socket: s.abort())
            timer.start(REQUEST_TIMEOUT_MS)
            socket.readyRead.connect(lambda s=socket, b=buffer, t=timer: self._read(s, b, t))
            socket.disconnected.connect(socket.deleteLater)

    def _read(self, socket: QLocalSocket, buffer: bytearray, timer: QTimer) -> None:
        if not timer.isActive():  # answered already, or timed out
            socket.readAll()
            return
        buffer += bytes(socket.readAll().data())
        end = buffer.find(b"\n")
        if end < 0 and len(buffer) <= MAX_MESSAGE_BYTES:
            return  # the rest is on its way
        timer.stop()
        request = decode_request(bytes(buffer[:end] if end >= 0 else buffer))
        buffer.clear()
        if request is None:
            socket.abort()
            return
        self._deliver(request)
        socket.write(ANSWER)
        socket.disconnectFromServer()

    def _deliver(self, request: WindowRequest) -> None:
        if self._handler is None:  # the window is still being built
            self._queued.append(request)
            return
        try:
            self._handler(request)
        except Exception:  # the request reached this window; a bug here must not end it
            log.exception("could not act on a request from another start")


def bring_forward(window: "MainWindow", request: WindowRequest) -> None:
    """What the open window does for a later start: come to the front, open its model."""
    log.info("another start asked for this window%s",
             f" (model: {request.model})" if request.model else "")
    if request.activate:
        if request.activation_token and QGuiApplication.platformName().startswith("wayland"):
            # Qt's Wayland plugin activates with this token when the window asks to be
            # activated: the compositor lets a launcher's click raise a running window.
            os.environ["XDG_ACTIVATION_TOKEN"] = request.activation_token
        window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMinimized)
        window.show()
        window.raise_()
        window.activateWindow()
    if request.model:
        window.open_model_file(request.model)
