"""The API server: uvicorn on a thread of its own, on a port found free.

``ApiServer.start()`` binds the socket itself, trying the asked port and then the
next ones (another program on 8477: 8478 is taken and ``address`` says so), then
runs uvicorn on that socket in a background thread with its own event loop. The
window and ``scalpel serve`` use this same class; ``stop()`` ends it and cancels
what it was answering.
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
import threading
import time
from collections import deque
from typing import Callable

from ..errors import ScalpelError
from .config import ApiOptions
from .engine_host import EngineHost
from .origins import is_loopback
from .routes import create_app
from .security import Call, Guard
from .token import ApiToken

log = logging.getLogger(__name__)
START_TIMEOUT_S = 10.0


class PortsInUseError(ScalpelError):
    """No free port in the range tried."""


def bind_first_free(host: str, port: int, tries: int) -> socket.socket:
    """A listening socket on ``port`` or the next free one (``port`` 0: any free port)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    last: OSError | None = None
    for candidate in ([0] if port == 0 else range(port, min(port + tries, 65536))):
        sock = socket.socket(family, socket.SOCK_STREAM)
        if sys.platform == "win32":  # never share a port another program holds
            sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_EXCLUSIVEADDRUSE", 0), 1)
        else:  # a restart may reuse a port left in TIME_WAIT, never one that is listening
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), candidate))
            sock.listen(128)
            sock.setblocking(False)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
            if exc.errno not in (errno.EADDRINUSE, errno.EACCES, getattr(errno, "WSAEADDRINUSE", -1)):
                raise PortsInUseError(f"cannot listen on {host}:{candidate}: "
                                      f"{exc.strerror or exc}") from exc
    raise PortsInUseError(f"ports {port} to {port + tries - 1} on {host} are all in use "
                          f"({last.strerror if last else 'in use'}); choose another with "
                          "--port") from last


class ApiServer:
    def __init__(self, host: EngineHost, token: ApiToken, options: ApiOptions) -> None:
        self.host = host
        self.token = token
        self.options = options
        self.calls: deque[Call] = deque(maxlen=options.recent_calls)
        self._listeners: list[Callable[[Call], None]] = []
        self._server = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port: int | None = None
        self.api = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def address(self) -> str:
        """``http://127.0.0.1:8477/v1`` (what a client's base URL is)."""
        host = self.options.host
        shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"http://{shown}:{self.port}/v1"

    def subscribe(self, listener: Callable[[Call], None]) -> None:
        """``listener(call)`` on the server's thread after each request."""
        self._listeners.append(listener)

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        for listener in list(self._listeners):
            try:
                listener(call)
            except Exception:  # noqa: BLE001
                log.exception("an API call listener failed")

    def start(self) -> str:
        """Listen and serve in the background; the address. Raises a ScalpelError."""
        import uvicorn

        self.token.value  # noqa: B018 - made (or read) now, not by the first request
        self._socket = bind_first_free(self.options.host, self.options.port,
                                       self.options.ports_to_try)
        self.port = self._socket.getsockname()[1]
        app, self.api = create_app(self.host, self.options)
        guarded = Guard(app, token=self.token, allowed_origins=self.options.allowed_origins,
                        open_interface=not is_loopback(self.options.host),
                        max_body_bytes=self.options.max_body_bytes, on_call=self._record)
        config = uvicorn.Config(guarded, log_config=None, access_log=False, lifespan="off",
                                server_header=False, timeout_graceful_shutdown=3)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._socket]},
                                        name="scalpel-api-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started and self._thread.is_alive() \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self._server.started:
            self.stop()
            raise ScalpelError("the API server did not start; details are in the log")
        if self.port != self.options.port and self.options.port:
            log.info("port %d was in use: the API listens on %d", self.options.port, self.port)
        log.info("local API listening on %s", self.address)
        return self.address

    def stop(self) -> None:
        """Stop listening; requests under way are cancelled."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
