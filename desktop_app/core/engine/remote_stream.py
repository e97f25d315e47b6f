"""One streamed HTTP request, read on its own thread so it can be abandoned at once.

``ResponseStream(client, url, body, headers).items()`` sends ``POST url`` and yields
``(kind, value)`` pairs as they come: ``("status", (code, retry_after, detail))`` for an
error answer, ``("content-type", text)`` for a 200 that is not an event stream,
``("data", payload)`` per SSE event, ``("done", None)`` for ``[DONE]``, ``("error",
exception)`` for a transport failure; it returns at the end of the stream. ``abort()``
(any thread, any time, idempotent) makes ``items()`` return at once, even while the
server has not sent a byte, and shuts the socket down so the reader thread and the
server both see the hang-up (not after a stream that ended by itself: its connection
goes back to the pool for the next request).
"""

from __future__ import annotations

import json
import queue
import socket
import threading
from typing import Iterator

from ..json_files import MAX_DEPTH, nesting_depth

_ABORT = ("abort", None)
_END = ("end", None)
_ERROR_BODY_LIMIT = 16_384


class ResponseStream:
    def __init__(self, client, url: str, body: dict, headers: dict[str, str]) -> None:
        self._client, self._url, self._body, self._headers = client, url, body, headers
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._aborted = False
        self._ended = False
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def items(self) -> Iterator[tuple[str, object]]:
        if self._aborted:  # cancelled before it began: nothing is sent
            return
        self._thread = threading.Thread(target=self._read, name="scalpel-remote-stream",
                                        daemon=True)
        self._thread.start()
        while True:
            item = self._queue.get()
            if item is _ABORT:
                return
            if item is _END or item[0] in ("status", "content-type", "error", "done"):
                self._ended = True  # the reader ends by itself: leave its socket alone
            if item is _END:
                return
            yield item
            if self._ended:
                return

    def abort(self) -> None:
        with self._lock:
            if self._aborted:
                return
            self._aborted = True
            sock = None if self._ended else self._socket
        self._queue.put(_ABORT)
        if sock is not None:
            _shut(sock)

    # -- the reader thread ----------------------------------------------------------------
    def _put(self, item) -> bool:
        with self._lock:
            if self._aborted:
                return False
            self._queue.put(item)
            return True

    def _read(self) -> None:
        import httpx2

        try:
            with self._client.stream("POST", self._url, json=self._body,
                                     headers=self._headers) as response:
                stream = response.extensions.get("network_stream")
                with self._lock:
                    if self._aborted:
                        return
                    self._socket = stream.get_extra_info("socket") if stream else None
                if response.status_code != 200:
                    self._put(("status", (response.status_code,
                                          response.headers.get("retry-after"),
                                          error_detail(_bounded_text(response)))))
                    return
                content_type = response.headers.get("content-type", "").partition(";")[0]
                if content_type.strip().lower() != "text/event-stream":
                    self._put(("content-type", content_type.strip()))
                    return
                done = False
                for event in httpx2.EventSource(response):
                    if done:
                        continue  # read to the body's end, so the connection is reused
                    if event.data == "[DONE]":
                        done = True
                        self._put(("done", None))
                    elif event.data and not self._put(("data", event.data)):
                        return
                if not done:
                    self._put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
            self._put(("error", exc))


def error_detail(text: str) -> str:
    """The server's own message in an error answer's body (OpenAI's ``error.message``,
    FastAPI's ``detail``), or the start of a plain-text body; "" for an HTML page."""
    try:
        if nesting_depth(text) > MAX_DEPTH:  # a server's text is untrusted
            raise ValueError("nested too deeply")
        payload = json.loads(text)
    except ValueError:
        text = " ".join(text.split())
        return "" if text.startswith("<") else text[:160]  # an HTML error page says nothing
    error = payload.get("error", payload.get("detail")) if isinstance(payload, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    if isinstance(error, list):  # FastAPI's validation errors
        error = "; ".join(str(e.get("msg", e)) if isinstance(e, dict) else str(e)
                          for e in error[:3])
    return " ".join(str(error or "").split())[:160]


def _bounded_text(response) -> str:
    data = bytearray()
    for piece in response.iter_bytes():
        data += piece
        if len(data) >= _ERROR_BODY_LIMIT:
            break
    return bytes(data[:_ERROR_BODY_LIMIT]).decode("utf-8", "replace")


def _shut(sock: socket.socket) -> None:
    """Wake a thread blocked reading ``sock`` (plain or TLS) without touching its SSL
    state from this thread: the base socket's shutdown is a single system call."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass
