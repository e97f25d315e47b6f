"""One API request's generation, run on its own thread and read from the event loop.

The engine contract is blocking (``Generation`` is an iterator), the server is async.
A ``GenerationRun`` takes the host's lock on a thread of its own, prepares the model,
iterates the engine's handle and hands each event to the loop. ``cancel()`` (a client
gone, a ``stop`` string found) works at any moment: before the request's turn it never
reaches the engine; after, ``Generation.cancel()`` stops it inside llama.cpp and the
engine is free for the next request at once. The admission ticket is released when the
thread ends, so the queue counts what really occupies the engine.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from typing import Any

from ..engine.contract import Generation
from ..engine.types import GenerationParams, Message
from ..errors import ScalpelError
from .engine_host import EngineHost, Target
from .errors import ApiError, from_scalpel_error
from .limits import Ticket

log = logging.getLogger(__name__)

_END = object()
_numbers = itertools.count(1)


class GenerationRun:
    def __init__(self, host: EngineHost, target: Target, messages: tuple[Message, ...],
                 request_params: Any, *, cap: int, ticket: Ticket) -> None:
        self._host = host
        self._target = target
        self._messages = messages
        self._request_params = request_params  # a ChatRequest: its fields over the base
        self._cap = cap
        self._ticket = ticket
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._cancelled = threading.Event()
        self._handle: Generation | None = None
        self._handle_lock = threading.Lock()
        self.model = target.name
        self.params: GenerationParams | None = None
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"scalpel-api-{next(_numbers)}")

    def start(self) -> "GenerationRun":
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Stop this request (any thread): before its turn, or inside the engine."""
        self._cancelled.set()
        with self._handle_lock:
            handle = self._handle
        if handle is not None:
            handle.cancel()

    async def next(self) -> Any:
        """The next TextDelta or ReplyFinished; raises ApiError; None at the end."""
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)  # later reads see the end too
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    # -- the worker thread ------------------------------------------------------------
    def _put(self, item: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the server's loop has closed: nobody is reading
            self.cancel()

    def _run(self) -> None:
        try:
            with self._host.lock:
                if self._cancelled.is_set():
                    return
                self.model = self._host.prepare(self._target)
                messages, base = self._host.request(self._target, self._messages)
                self.params = self._request_params.params(base, cap=self._cap)
                handle = self._host.engine.generate(messages, self.params)
                with self._handle_lock:
                    self._handle = handle
                if self._cancelled.is_set():
                    handle.cancel()
                with handle:
                    for event in handle:
                        self._put(event)
        except ApiError as exc:
            self._put(exc)
        except ScalpelError as exc:
            self._put(from_scalpel_error(exc))
        except Exception as exc:  # noqa: BLE001 - a bug must still answer the client
            log.exception("an API request failed")
            self._put(ApiError(500, f"Something went wrong while answering "
                               f"({type(exc).__name__}); details are in Scalpel's log.",
                               None, "internal_error"))
        finally:
            self._ticket.release()
            self._put(_END)
