"""Runs the engine on a worker thread and hands results to the GUI thread.

The engine itself runs in its own process (``EngineProcess``), so a crash in
llama.cpp costs the answer in flight, never the window. Loading and generating
are requests made from one QThread, in order. Streamed text does
not travel as one signal per token: the worker appends to a locked buffer and
a GUI-thread timer drains it every ``FLUSH_INTERVAL_MS``, emitting one
``text_ready`` per tick. Only start/finish/error cross as signals.
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from ..core.engine import GenerationParams, LoadOptions, ModelInfo, ReplyFinished, TextDelta
from ..core.errors import ScalpelError

log = logging.getLogger(__name__)

FLUSH_INTERVAL_MS = 30  # ~33 fps: smooth to the eye, cheap for the layout engine


class _TextBuffer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: list[str] = []

    def append(self, text: str) -> None:
        with self._lock:
            self._parts.append(text)

    def take(self) -> str:
        with self._lock:
            parts, self._parts = self._parts, []
        return "".join(parts)


def _user_message(exc: BaseException) -> str:
    if isinstance(exc, ScalpelError):
        return str(exc)
    log.exception("unexpected engine failure")
    return f"Something went wrong in the engine ({type(exc).__name__}); details are in the log."


class _Worker(QObject):
    loaded = Signal(object, list)    # ModelInfo, names of the models kept loaded
    load_failed = Signal(str, str)   # path, message
    finished = Signal(object)        # ReplyFinished
    failed = Signal(str)
    restarting = Signal(str)         # the model being reloaded after an engine crash
    unloaded = Signal()

    def __init__(self, engine, buffer: _TextBuffer, stop_requested: threading.Event) -> None:
        super().__init__()
        self._engine = engine
        if hasattr(engine, "on_restart"):  # EngineProcess (an in-process engine never restarts)
            engine.on_restart = self.restarting.emit
        self._buffer = buffer
        self._stop_requested = stop_requested

    @Slot(str, object, str)
    def load(self, path: str, options: LoadOptions, name: str) -> None:
        try:
            info = self._engine.load(path, options, name=name or None)
            self.loaded.emit(info, [m.name for m in self._engine.loaded_models()])
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            self.load_failed.emit(path, _user_message(exc))

    @Slot(int)
    def keep_loaded(self, count: int) -> None:
        self._engine.keep_loaded = count

    @Slot()
    def unload(self) -> None:
        self._engine.unload()
        self.unloaded.emit()

    @Slot(object, object)
    def generate(self, messages: list, params: GenerationParams) -> None:
        try:
            events = self._engine.generate(messages, params)
            if self._stop_requested.is_set():  # Stop pressed before we started
                self._engine.cancel()
            for event in events:
                if isinstance(event, TextDelta):
                    self._buffer.append(event.text)
                else:
                    self.finished.emit(event)
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(_user_message(exc))


class EngineBridge(QObject):
    """The GUI's handle on the engine. Every method returns immediately."""

    model_loading = Signal(str)          # path
    model_loaded = Signal(object)        # ModelInfo
    model_load_failed = Signal(str, str)  # path, message
    text_ready = Signal(str)             # a batch of streamed text
    reply_finished = Signal(object)      # ReplyFinished
    reply_failed = Signal(str)
    engine_restarting = Signal(str)      # model name: a crashed engine is being restarted
    unloaded = Signal()                  # every model closed (the engine process ended)

    _request_load = Signal(str, object, str)
    _request_generate = Signal(object, object)
    _request_keep_loaded = Signal(int)
    _request_unload = Signal()

    def __init__(self, engine, parent: QObject | None = None) -> None:
        """``engine``: an ``EngineProcess``, or anything with ``LlamaEngine``'s API."""
        super().__init__(parent)
        self._engine = engine
        self._buffer = _TextBuffer()
        self._stop_requested = threading.Event()
        self._busy = False
        self.loaded_models: list[str] = []  # names, as of the last load
        self._thread = QThread(self)
        self._thread.setObjectName("scalpel-engine")
        self._worker = _Worker(engine, self._buffer, self._stop_requested)
        self._worker.moveToThread(self._thread)
        self._request_load.connect(self._worker.load)
        self._request_generate.connect(self._worker.generate)
        self._request_keep_loaded.connect(self._worker.keep_loaded)
        self._worker.loaded.connect(self._on_loaded)
        self._worker.load_failed.connect(self._on_load_failed)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._worker.restarting.connect(self.engine_restarting)
        self._request_unload.connect(self._worker.unload)
        self._worker.unloaded.connect(self.unloaded)
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._thread.start()

    @property
    def busy(self) -> bool:
        return self._busy

    def load(self, path: str, options: LoadOptions, name: str = "") -> None:
        self._busy = True
        self.model_loading.emit(path)
        self._request_load.emit(path, options, name)

    def generate(self, messages: list, params: GenerationParams) -> None:
        self._busy = True
        self._stop_requested.clear()
        self._buffer.take()
        self._flush_timer.start()
        self._request_generate.emit([dict(m) for m in messages], params)

    def set_keep_loaded(self, count: int) -> None:
        """How many models stay open; applied on the engine thread, between requests."""
        self._request_keep_loaded.emit(count)

    def unload(self) -> None:
        """Close every model, on the engine thread after any request before it."""
        self._request_unload.emit()

    def stop(self) -> None:
        self._stop_requested.set()
        self._engine.cancel()

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Stop any answer, finish the worker thread and free the model."""
        self.stop()
        self._flush_timer.stop()
        self._thread.quit()
        if not self._thread.wait(timeout_ms):
            log.warning("engine thread did not finish within %d ms", timeout_ms)
            return
        self._engine.unload()

    @Slot()
    def _flush(self) -> None:
        text = self._buffer.take()
        if text:
            self.text_ready.emit(text)

    def _end_reply(self) -> None:
        self._flush_timer.stop()
        self._flush()
        self._busy = False

    @Slot(object, list)
    def _on_loaded(self, info: ModelInfo, loaded: list) -> None:
        self._busy = False
        self.loaded_models = loaded
        self.model_loaded.emit(info)

    @Slot(str, str)
    def _on_load_failed(self, path: str, message: str) -> None:
        self._busy = False
        self.model_load_failed.emit(path, message)

    @Slot(object)
    def _on_finished(self, finished: ReplyFinished) -> None:
        self._end_reply()
        self.reply_finished.emit(finished)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._end_reply()
        self.reply_failed.emit(message)
