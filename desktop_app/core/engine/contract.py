"""The one engine contract: what the session and the window may ask of any engine.

``LlamaEngine`` (llama.cpp in this process), ``EngineProcess`` (the same in a
child process) and the tests' fake all satisfy ``Engine``; one shared suite
(tests/test_engine_contract.py) runs against each. A remote OpenAI-compatible
engine is the next kind: it needs no change to the session or the window.

Each ``generate`` returns a ``Generation``: a handle on that one request.
Iterate it for ``TextDelta`` ... ``ReplyFinished`` events, ``cancel()`` it from
any thread (before it starts, while the prompt is read, while it streams), and
use it as a context manager. Nothing happens until it is first read, so a
handle dropped unread holds nothing; one closed part-way releases the engine.
Errors (typed ``ScalpelError``s) are raised while iterating; ``generate``
itself raises only ``NoModelLoadedError``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Iterator, Protocol

from .types import (EngineEvent, GenerationParams, LoadOptions, Message, ModelInfo,
                    ReplyFinished, ReplyStats)


class Generation:
    """One request's answer. ``start(handle)`` makes its events on first read."""

    def __init__(self, start: Callable[["Generation"], Iterator[EngineEvent]]) -> None:
        self._start = start
        self._events: Iterator[EngineEvent] | None = None
        self._lock = threading.Lock()
        self._on_cancel: list[Callable[[], None]] = []
        self._closed = False
        self.cancel_event = threading.Event()
        self.finished: ReplyFinished | None = None

    # -- cancelling (any thread) ------------------------------------------------
    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def cancel(self) -> None:
        """Stop this request: before it starts (it then never reaches the engine),
        during the prompt, or while it streams. A no-op once it has finished."""
        with self._lock:
            if self.cancel_event.is_set():
                return
            self.cancel_event.set()
            actions = list(self._on_cancel)
        for action in actions:
            action()

    def when_cancelled(self, action: Callable[[], None]) -> None:
        """For engines: run ``action`` on ``cancel()`` (at once if already cancelled)."""
        with self._lock:
            self._on_cancel.append(action)
            now = self.cancel_event.is_set()
        if now:
            action()

    # -- reading (one thread) ---------------------------------------------------
    def __iter__(self) -> "Generation":
        return self

    def __next__(self) -> EngineEvent:
        if self._events is None:
            if self._closed:
                raise StopIteration
            self._events = self._start(self)
        event = next(self._events)
        if isinstance(event, ReplyFinished):
            self.finished = event
        return event

    def result(self) -> ReplyFinished:
        """Read to the end; the final event."""
        for _ in self:
            pass
        if self.finished is None:
            raise RuntimeError("the engine ended a reply without its final event")
        return self.finished

    def close(self) -> None:
        """Stop reading: a request under way is cancelled and the engine released."""
        self._closed = True
        events, self._events = self._events, None
        if events is not None and self.finished is None:
            self.cancel()
        close = getattr(events, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "Generation":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def cancelled_before_start(prompt_tokens: int = 0) -> ReplyFinished:
    """The final event of a request cancelled before the engine began it."""
    return ReplyFinished(reason="cancelled", text="", stats=ReplyStats(prompt_tokens=prompt_tokens))


class Engine(Protocol):
    """What every engine offers. All methods block the calling thread except
    ``cancel``, which may come from any thread."""

    on_restart: Callable[[str], None] | None  # told the model's name when an engine restarts

    @property
    def model_info(self) -> ModelInfo | None: ...

    @property
    def keep_loaded(self) -> int: ...

    @keep_loaded.setter
    def keep_loaded(self, count: int) -> None: ...

    def load(self, path: str | Path, options: LoadOptions = LoadOptions(), *,
             name: str | None = None) -> ModelInfo: ...

    def generate(self, messages: list[Message],
                 params: GenerationParams = GenerationParams()) -> Generation: ...

    def cancel(self) -> None: ...

    def embed(self, texts: list[str], *, model: str | None = None) -> list[list[float]]:
        """One unit-length vector per text, in order, all of one length; ``model`` names
        the embedding model (a GGUF path, or a remote model id; None: the loaded model).
        Raises ``NoModelLoadedError`` with neither, other typed errors as ``load`` would."""
        ...

    def unload(self) -> None: ...

    def loaded_models(self) -> list[ModelInfo]: ...

    def stats(self) -> dict: ...
