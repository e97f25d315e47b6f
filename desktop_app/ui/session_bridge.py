"""The chat session's events, delivered on the GUI thread as Qt signals.

``ChatSession`` (core) runs engine work on its own worker thread and reports
plain events from whichever thread they happen on. This adapter queues every
event to the GUI thread, in the order it happened, and re-emits it as a typed
signal for the widgets. Streamed text arrives already batched (the engine
process coalesces it), so there is no second timer here. This is the only
hop between the session and the widgets.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt, Signal, Slot

from ..core.engine import LoadOptions
from ..core.engine.contract import Engine
from ..core.session import (AnswerFailed, AnswerFinished, AnswerProgress, AnswerRouted,
                            AnswerStarted, AnswerText, ChatSession, ChatsChanged, ChatShown,
                            EngineRestarting, EscalationSuggested, ModelLoaded,
                            ModelLoadFailed, ModelLoading, ModelQueued, ModelUnloaded, Notice,
                            QuestionAdded, SessionEvent, StateChanged)
from .error_text import for_window

log = logging.getLogger(__name__)


class SessionBridge(QObject):
    """The window's handle on the session. Every method returns at once."""

    state_changed = Signal(object)       # StateChanged
    chat_shown = Signal(object)          # ChatShown
    question_added = Signal(object)      # QuestionAdded
    answer_started = Signal(object)      # AnswerStarted
    answer_routed = Signal(object)       # AnswerRouted (of the open chat)
    answer_progress = Signal(object)     # AnswerProgress (of the open chat)
    escalation_suggested = Signal(object)  # EscalationSuggested (of the open chat)
    text_ready = Signal(str)             # a batch of the open chat's streamed answer
    answer_finished = Signal(object)     # AnswerFinished
    answer_failed = Signal(object)       # AnswerFailed
    reply_finished = Signal(object)      # ReplyFinished of an answer of the open chat
    reply_failed = Signal(str)           # the sentence, for an answer of the open chat
    model_loading = Signal(str)          # path
    model_loaded = Signal(object)        # ModelInfo
    model_load_failed = Signal(str, str)  # path, message
    model_queued = Signal(str)           # name of the model that loads after the answer
    unloaded = Signal()                  # every model closed (the engine process ended)
    engine_restarting = Signal(str)      # model name: a crashed engine is being restarted
    chats_changed = Signal()
    notice = Signal(str)

    _relay = Signal(object)

    def __init__(self, session: ChatSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.loaded_models: list[str] = []   # names, as of the last load
        # Events from the session's worker are queued to the GUI thread in the order they
        # happened; those the GUI thread causes itself (a send, a chat opened) are handled
        # at once, so the screen is up to date when the call returns. The two cannot
        # interleave on one answer: the window takes no new request for a chat while its
        # answer's events are still on their way (ChatController.answering).
        self._relay.connect(self._dispatch, Qt.ConnectionType.AutoConnection)
        self._unsubscribe = session.subscribe(self._relay.emit)

    @property
    def engine(self) -> Engine:
        return self.session.engine

    @property
    def busy(self) -> bool:
        return self.session.state.busy

    def load(self, path: str, options: LoadOptions, name: str = "") -> None:
        self.session.load_model(path, options, name or None)

    def set_keep_loaded(self, count: int) -> None:
        self.session.set_keep_loaded(count)

    def unload(self) -> None:
        self.session.unload()

    def stop(self) -> None:
        self.session.stop()

    def shutdown(self) -> None:
        """Stop any answer (keeping what it wrote), finish the worker, free the model."""
        unsubscribe, self._unsubscribe = self._unsubscribe, lambda: None
        unsubscribe()
        self.session.close()
        self.session.engine.unload()

    @Slot(object)
    def _dispatch(self, event: SessionEvent) -> None:
        here = getattr(event, "chat_id", None) == self.session.chat_id
        if isinstance(event, AnswerText):
            if here:
                self.text_ready.emit(event.text)
        elif isinstance(event, StateChanged):
            self.state_changed.emit(event)
        elif isinstance(event, ChatShown):
            self.chat_shown.emit(event)
        elif isinstance(event, QuestionAdded):
            self.question_added.emit(event)
        elif isinstance(event, AnswerStarted):
            self.answer_started.emit(event)
        elif isinstance(event, AnswerRouted):
            if here:
                self.answer_routed.emit(event)
        elif isinstance(event, AnswerProgress):
            if here:
                self.answer_progress.emit(event)
        elif isinstance(event, EscalationSuggested):
            if here:
                self.escalation_suggested.emit(event)
        elif isinstance(event, AnswerFinished):
            self.answer_finished.emit(event)
            self.reply_finished.emit(event.finished)
        elif isinstance(event, AnswerFailed):
            self.answer_failed.emit(event)
            self.reply_failed.emit(for_window(event.error, event.cause))
        elif isinstance(event, ModelLoading):
            self.model_loading.emit(event.path)
        elif isinstance(event, ModelLoaded):
            self.loaded_models = list(event.kept)
            self.model_loaded.emit(event.info)
        elif isinstance(event, ModelLoadFailed):
            self.model_load_failed.emit(event.path, for_window(event.error, event.cause))
        elif isinstance(event, ModelQueued):
            self.model_queued.emit(event.name)
        elif isinstance(event, ModelUnloaded):
            self.unloaded.emit()
        elif isinstance(event, EngineRestarting):
            self.engine_restarting.emit(event.model_name)
        elif isinstance(event, ChatsChanged):
            self.chats_changed.emit()
        elif isinstance(event, Notice):
            self.notice.emit(event.text)
