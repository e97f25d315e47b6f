"""Route llama.cpp's own log lines into Python logging.

llama-cpp-python's ``verbose=False`` silences llama.cpp by swapping the
process's stdout/stderr file descriptors while a model loads, which breaks
windowed (console-less) frozen builds. Instead we install our own log
callback with ``llama_log_set`` (``llama_api.set_log_callback``): every line
goes to the ``llama_cpp.native`` logger, and the last error lines are kept so a
failed load can say why.
"""

from __future__ import annotations

import collections
import logging
import threading

log = logging.getLogger("llama_cpp.native")

# ggml.h's ggml_log_level: NONE=0, DEBUG=1, INFO=2, WARN=3, ERROR=4, CONT=5.
# (llama-cpp-python's own _logger still assumes an older order.) llama.cpp's
# INFO is chatty (every metadata key on load), so it becomes DEBUG here.
_LEVELS = {0: logging.DEBUG, 1: logging.DEBUG, 2: logging.DEBUG,
           3: logging.WARNING, 4: logging.ERROR}
_CONTINUE = 5


class LlamaLogBridge:
    """Owns the ctypes callback (it must outlive every call into llama.cpp)."""

    def __init__(self, keep_errors: int = 8) -> None:
        self._lock = threading.Lock()
        self._pending = ""
        self._pending_level = logging.DEBUG
        self._errors: collections.deque[str] = collections.deque(maxlen=keep_errors)
        self._callback = None

    def install(self) -> None:
        from . import llama_api

        # keep a reference: llama.cpp holds a raw pointer
        self._callback = llama_api.set_log_callback(self._receive)

    def _receive(self, level: int, text: bytes) -> None:
        chunk = text.decode("utf-8", errors="replace") if text else ""
        with self._lock:
            if level != _CONTINUE:
                self._pending_level = _LEVELS.get(level, logging.DEBUG)
            self._pending += chunk
            if "\n" not in self._pending:
                return
            *lines, self._pending = self._pending.split("\n")
            lvl = self._pending_level
        for line in lines:
            if not line.strip():
                continue
            if lvl >= logging.ERROR:
                self._errors.append(line.strip())
            log.log(lvl, "%s", line)

    def take_errors(self) -> list[str]:
        """The error lines logged since the last call, oldest first."""
        with self._lock:
            errors = list(self._errors)
            self._errors.clear()
        return errors


_bridge: LlamaLogBridge | None = None
_bridge_lock = threading.Lock()


def install_log_bridge() -> LlamaLogBridge:
    """Install the bridge once per process (llama.cpp has one global log hook)."""
    global _bridge
    with _bridge_lock:
        if _bridge is None:
            _bridge = LlamaLogBridge()
            _bridge.install()
        return _bridge
