"""Switching tasks and models without losing the chat.

Choosing a preset sets the chat's prompt and sampling at once, then brings
the model the preset prefers: loaded in the background if installed (the
conversation stays on screen), offered for download if not, with a notice
saying which model answers meanwhile. A load asked for while the engine is
busy waits for it; only the latest such request is kept.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal

from ..core.catalog import CatalogEntry
from ..core.engine import LoadOptions, ModelInfo
from ..core.errors import ScalpelError, format_size
from ..core.models import ModelRef
from ..core.presets import Preset
from ..core.services import Services
from ..core.task_models import choose_model_for
from .chat_controller import ChatController
from .engine_bridge import EngineBridge
from .notice_bar import NoticeBar

log = logging.getLogger(__name__)

DOWNLOAD, KEEP = "Download", "Keep current model"


class TaskSwitcher(QObject):
    preset_changed = Signal(object)      # Preset
    model_request_queued = Signal(str)   # name of the model that loads after the answer

    def __init__(self, services: Services, bridge: EngineBridge, chat: ChatController,
                 notice: NoticeBar, *, download: Callable[[CatalogEntry], None],
                 report_error: Callable[[str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._bridge = bridge
        self._chat = chat
        self._notice = notice
        self._download = download
        self._report_error = report_error
        self._pending: tuple[ModelRef, LoadOptions] | None = None
        self._declined: set[str] = set()     # catalog ids the person chose not to download
        self._awaited: set[str] = set()      # catalog ids being downloaded for a task
        bridge.model_loaded.connect(self._run_pending)
        bridge.model_load_failed.connect(self._run_pending)
        chat.answering_changed.connect(lambda answering: answering or self._run_pending())

    # -- tasks ----------------------------------------------------------------------
    def apply_preset(self, preset_id: str, *, model: ModelRef | None = None) -> Preset | None:
        """Make ``preset_id`` the chat's task and bring its model (or ``model``)."""
        preset = self._services.presets.get(preset_id) or self._services.presets.default()
        if preset is None:
            self._report_error("No task presets could be loaded; see the log for details.")
            return None
        self._chat.set_preset(preset)
        self._remember(preset)
        self._notice.hide()
        self.preset_changed.emit(preset)
        if model is not None:
            self.request_model(model)
        else:
            self._bring_model_for(preset)
        return preset

    def _remember(self, preset: Preset) -> None:
        settings = self._services.settings
        if settings.last_preset != preset.id:
            settings.last_preset = preset.id
            try:
                self._services.settings_store.save(settings)
            except OSError as exc:
                log.warning("could not save the chosen task: %s", exc)

    def _bring_model_for(self, preset: Preset) -> None:
        choice = choose_model_for(preset, self._services.usable_models(), self._services.catalog)
        target = choice.ref or self._current_ref() or self._services.default_model()
        if target is not None:
            self.request_model(target)
        if (choice.missing and choice.missing.id not in self._declined | self._awaited
                and self._services.can_download(choice.missing)):
            self._offer_download(preset, choice.missing, target)

    def _offer_download(self, preset: Preset, entry: CatalogEntry,
                        answering: ModelRef | None) -> None:
        who = answering.name if answering else "no model (none is installed)"
        self._notice.show_notice(
            f"{preset.name} works best with {entry.name} ({format_size(entry.size_bytes)}), "
            f"which is not installed. Answers come from {who} for now.",
            [(DOWNLOAD, lambda: self._start_download(entry)),
             (KEEP, lambda: self._declined.add(entry.id))])

    def _start_download(self, entry: CatalogEntry) -> None:
        self._awaited.add(entry.id)
        self._download(entry)

    def models_changed(self) -> None:
        """After an install: load a model that was downloaded for the current task."""
        preset = self._chat.preset
        if preset is None or not self._awaited:
            return
        choice = choose_model_for(preset, self._services.usable_models(), self._services.catalog)
        if choice.ref is not None and choice.ref.id in self._awaited:
            self._awaited.discard(choice.ref.id)
            self.request_model(choice.ref)

    # -- models ---------------------------------------------------------------------
    def request_model(self, ref: ModelRef) -> None:
        """Load ``ref`` with the task's options, now or as soon as the engine is free."""
        options = self._services.load_options(ref, self._chat.preset)
        if self._is_loaded(ref, options):
            self._pending = None
            return
        if self._bridge.busy or self._chat.answering:
            self._pending = (ref, options)
            self.model_request_queued.emit(ref.name)
            return
        self._pending = None
        self._bridge.load(str(ref.path), options, ref.name)

    def _run_pending(self, *_args) -> None:
        if self._pending is None or self._bridge.busy or self._chat.answering:
            return
        ref, _options = self._pending
        self._pending = None
        self.request_model(ref)

    def _is_loaded(self, ref: ModelRef, options: LoadOptions) -> bool:
        info: ModelInfo | None = self._chat.model
        if info is None or Path(info.path).resolve() != ref.path.resolve():
            return False
        wanted = min(options.n_ctx, info.trained_context or options.n_ctx)
        return info.context_size == wanted

    def _current_ref(self) -> ModelRef | None:
        info = self._chat.model
        if info is None:
            return None
        try:
            return self._services.registry.resolve(info.path)
        except ScalpelError:
            return None
