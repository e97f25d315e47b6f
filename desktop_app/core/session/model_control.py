"""ChatSession's task and model: the preset, loads, unloads, models kept loaded.

A mixin of ``ChatSession`` (chat_session.py), which owns the state these methods
change; engine work is queued on the session's worker in the order asked.
"""

from __future__ import annotations

import logging

from ..engine.types import LoadOptions
from ..errors import ScalpelError, SessionBusyError
from ..presets import Preset
from .answering import BUSY
from .events import ModelLoaded, ModelLoadFailed, ModelLoading, ModelQueued, ModelUnloaded

log = logging.getLogger(__name__)


class ModelControl:
    def set_preset(self, preset: Preset | None) -> None:
        """The task from the next answer on (its system prompt, template and sampling)."""
        self.preset = preset
        self._remember_task()

    @property
    def _preset_id(self) -> str | None:
        return (self.preset.id or None) if self.preset else None

    def _remember_task(self) -> None:
        with self._lock:
            if self.chat_id is None or self._answer is not None:
                return
            try:
                self.store.set_chat_task(self.chat_id,
                                         preset_id=self._preset_id,
                                         model=self.model.path if self.model else None)
            except ScalpelError as exc:
                log.warning("could not remember the chat's task: %s", exc)

    def load_model(self, path: str, options: LoadOptions, name: str | None = None) -> None:
        """Load a model in the background (after the answer, if one is streaming: only the
        latest such request is kept)."""
        with self._lock:
            if self._answer is not None:
                self._pending_load = (str(path), options, name)
                self._emit(ModelQueued(name or str(path)))
                return
            self._loads += 1
        self._emit(ModelLoading(str(path), name or str(path)))
        self._settle()
        self._jobs.submit(lambda: self._run_load(str(path), options, name))

    def _run_load(self, path: str, options: LoadOptions, name: str | None) -> None:
        error, cause = None, None
        try:
            info = self.engine.load(path, options, name=name)
        except ScalpelError as exc:
            error, cause = str(exc), exc
        except Exception as exc:  # noqa: BLE001
            log.exception("loading %s failed", path)
            error = f"The model could not be loaded ({type(exc).__name__}); details are in the log."
        with self._lock:
            self._loads -= 1
            if error is None:
                self.model = info
        if error is None:
            self._remember_task()
            self._emit(ModelLoaded(info, tuple(m.name for m in self.engine.loaded_models())))
        else:
            self._emit(ModelLoadFailed(path, error, cause))
        self._settle()

    def unload(self) -> None:
        """Close every model (an engine process ends); the chat stays open."""
        with self._lock:
            if self._answer is not None:
                raise SessionBusyError(BUSY)
        self._jobs.submit(self._run_unload)

    def _run_unload(self) -> None:
        self.engine.unload()
        with self._lock:
            self.model = None
        self._emit(ModelUnloaded())

    def set_keep_loaded(self, count: int) -> None:
        """How many models stay open; applied between engine requests."""
        def apply() -> None:
            self.engine.keep_loaded = count

        self._jobs.submit(apply)

