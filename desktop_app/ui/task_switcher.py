"""Switching tasks and models without losing the chat.

Choosing a preset sets the chat's prompt and sampling at once, then brings
the model the preset prefers: loaded in the background if installed (the
conversation stays on screen), offered for download if not, with a notice
saying which model answers meanwhile. A model the person chose by hand stays
until a task with another model is chosen, and a notice then says so.
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
from .notice_bar import NoticeBar
from .session_bridge import SessionBridge

log = logging.getLogger(__name__)

DOWNLOAD, KEEP = "Download", "Keep current model"


class TaskSwitcher(QObject):
    preset_changed = Signal(object)      # Preset
    model_changed_notice = Signal(str)   # a task replaced the model the person had chosen

    def __init__(self, services: Services, bridge: SessionBridge, chat: ChatController,
                 notice: NoticeBar, *, download: Callable[[CatalogEntry], None],
                 report_error: Callable[[str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._bridge = bridge
        self._chat = chat
        self._notice = notice
        self._download = download
        self._report_error = report_error
        self._by_hand: ModelRef | None = None  # a model the person chose themselves
        self._declined: set[str] = set()     # catalog ids the person chose not to download
        self._awaited: set[str] = set()      # catalog ids being downloaded for a task

    # -- tasks ----------------------------------------------------------------------
    def apply_preset(self, preset_id: str, *, model: ModelRef | None = None) -> Preset | None:
        """Make ``preset_id`` the chat's task and bring its model (or ``model``, a chat's
        own). A model the person chose by hand stays until a task with another model is
        chosen; then a notice says which model answers now."""
        preset = self._services.presets.get(preset_id) or self._services.presets.default()
        if preset is None:
            self._report_error("No task presets could be loaded; see the log for details.")
            return None
        same_task = self._chat.preset is not None and self._chat.preset.id == preset.id
        self._chat.set_preset(preset)
        self._remember(preset)
        self._notice.hide()
        self.preset_changed.emit(preset)
        if model is not None:
            self._by_hand = None
            self.request_model(model)
        elif not same_task or self._chat.model is None:
            self._bring_model_for(preset)
        return preset

    def choose_by_hand(self, ref: ModelRef) -> None:
        """The person picked ``ref`` (model menu, Open model file): it answers from now on."""
        self._by_hand = ref
        self.request_model(ref)

    def _remember(self, preset: Preset) -> None:
        try:
            self._services.update_settings(last_preset=preset.id)
        except ScalpelError as exc:
            log.warning("could not remember the chosen task: %s", exc)
            self._report_error(str(exc))

    def _bring_model_for(self, preset: Preset) -> None:
        choice = choose_model_for(preset, self._services.usable_models(), self._services.catalog)
        hand = self._by_hand
        if hand is not None:
            if choice.ref is None or choice.ref.path.resolve() == hand.path.resolve():
                target = hand
            else:
                target = choice.ref
                self._by_hand = None
                self.model_changed_notice.emit(
                    f"{preset.name} answers with {choice.ref.name} now (you had chosen "
                    f"{hand.name}; pick it again in the model box to keep it).")
        else:
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
        """Load ``ref`` with the task's options; the session runs it when the engine is
        free (after an answer, only the latest such request)."""
        options = self._services.load_options(ref, self._chat.preset)
        if self._is_loaded(ref, options):
            return
        self._bridge.load(str(ref.path), options, ref.name)

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
            return self._services.models.resolve(info.path)
        except ScalpelError:
            return None
