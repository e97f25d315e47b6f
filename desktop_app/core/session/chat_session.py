"""ChatSession: one open chat, the model answering it, and the one state they share.

Every face of Scalpel (the window, ``scalpel chat``, later the local API) is an
adapter over this class; none keeps conversation state of its own. Calls
return at once: store writes are small and happen on the caller's thread,
engine work (loads, answers) runs on the session's worker thread in the order
asked. What happens is reported to subscribers as plain events (events.py),
from whichever thread it happened on; a GUI hands them to its own thread.

State: IDLE -> (send) ANSWERING -> (stop) STOPPING -> IDLE, or FAILED with the
reason; LOADING while a model loads (a message sent then waits for it). Only
one answer at a time; the chat's branch cannot change under a running answer.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from ..chats import ChatStore, StoredMessage
from ..conversation import engine_history
from ..engine.contract import Engine
from ..engine.types import GenerationParams, LoadOptions, Message, ModelInfo, ReplyStats
from ..errors import SessionBusyError
from ..listeners import Listeners
from ..presets import Preset
from .answer import Answer, AnswerWriter
from .answering import BUSY, Answering
from .around_answer import AroundAnswer
from .auto import AutoTask
from .documents import DocumentAnswers, DocumentsPort
from .events import (ChatsChanged, ChatShown, EngineRestarting, SessionEvent, SessionState,
                     StateChanged)
from .jobs import JobThread
from .model_control import ModelControl
from .orchestration import EscalationPort, Orchestration

log = logging.getLogger(__name__)

class ChatSession(Answering, ModelControl, Orchestration, AroundAnswer, DocumentAnswers):
    def __init__(self, store: ChatStore, engine: Engine, *,
                 preset_for: Callable[[str | None], Preset | None],
                 default_params: Callable[[], GenerationParams] = GenerationParams,
                 save_interval_s: float = 1.0, auto: AutoTask | None = None,
                 escalation: EscalationPort | None = None,
                 documents: DocumentsPort | None = None) -> None:
        self.store = store
        self.engine = engine
        self._preset_for = preset_for
        self._default_params = default_params
        self._listeners: Listeners[Callable[[SessionEvent], None]] = Listeners("session")
        self._lock = threading.RLock()
        self._jobs = JobThread()
        self._writer = AnswerWriter(store, self._emit, save_interval_s=save_interval_s)
        self.state = SessionState.IDLE
        self.error: str | None = None
        self.chat_id: int | None = None
        self.path: list[StoredMessage] = []
        self._leaf: int | None = None        # this session's branch: its last message
        self.model: ModelInfo | None = self.engine.model_info
        self.preset: Preset | None = None
        self._answer: Answer | None = None
        self._loads = 0                      # loads asked for and not yet done
        self._pending_load: tuple[str, LoadOptions, str | None] | None = None
        self._auto = auto                    # Auto's router and models (auto.py)
        self._escalation = escalation        # the bigger model, its rules and log
        self._consented: set[int | None] = set()  # chats whose sending the person saw
        self._keep_new_chat_local = False
        self._documents = documents          # grounding on the person's files
        self._new_chat_documents: tuple[str, ...] = ()
        engine.on_restart = lambda name: self._emit(EngineRestarting(name))

    # -- subscribers -----------------------------------------------------------------
    def subscribe(self, listener: Callable[[SessionEvent], None]) -> Callable[[], None]:
        """``listener(event)`` for every event from now on; returns the unsubscribe."""
        return self._listeners.add(listener)

    def _emit(self, event: SessionEvent) -> None:
        self._listeners.notify(event)

    def _set_state(self, state: SessionState, error: str | None = None) -> None:
        with self._lock:
            if state == self.state and error == self.error:
                return
            self.state, self.error = state, error
        self._emit(StateChanged(state, error))

    def _settle(self, error: str | None = None) -> None:
        """The state that follows from what is still under way."""
        with self._lock:
            if self._answer is not None:
                state = (SessionState.STOPPING if self._answer.stop_requested
                         else SessionState.LOADING if not self._answer.started.is_set()
                         and self._loads else SessionState.ANSWERING)
            elif self._loads:
                state = SessionState.LOADING
            else:
                state = SessionState.FAILED if error else SessionState.IDLE
        self._set_state(state, error if state == SessionState.FAILED else None)

    @property
    def save_interval_s(self) -> float:
        """How often a streaming answer is saved (a kill loses at most this much)."""
        return self._writer.interval

    @save_interval_s.setter
    def save_interval_s(self, seconds: float) -> None:
        self._writer.interval = seconds

    @property
    def answering(self) -> bool:
        return self._answer is not None

    def can_send(self) -> bool:
        return self._answer is None and (self.model is not None or self._loads > 0)

    # -- the chat ----------------------------------------------------------------------
    @property
    def history(self) -> list[Message]:
        return engine_history(self.path, preset_for=self._preset_for)

    def request(self, history: list[Message]) -> tuple[list[Message], GenerationParams]:
        """What the engine is sent for ``history``: the preset's system prompt and sampling."""
        if self.preset is None:
            return list(history), self._default_params()
        return self.preset.messages(history), self.preset.generation_params()

    def open_chat(self, chat_id: int | None, *, at_message: int | None = None) -> None:
        with self._lock:
            if self._answer is not None:
                raise SessionBusyError(BUSY)
            path = self.store.path(chat_id) if chat_id is not None else []
            if at_message is not None and all(m.id != at_message for m in path):
                path = self.store.switch_to(at_message)  # the hit is on another branch
            self.chat_id, self.path = chat_id, path
            self._leaf = path[-1].id if path else None
        self._show()

    def new_chat(self) -> None:
        """An empty chat. An answer still streaming is stopped and kept in its own chat."""
        with self._lock:
            if self._answer is not None:
                self._stop_locked()
            self.chat_id, self.path, self._leaf = None, [], None
        self._show()

    def _show(self) -> None:
        stats = next((ReplyStats.from_dict(m.stats) for m in reversed(self.path)
                      if m.role == "assistant" and m.stats), None)
        self._emit(ChatShown(self.chat_id, tuple(self.path), stats))

    def _reload_path(self) -> None:
        """This session's branch, as it is now: another window or process sharing the
        store may move the chat's remembered branch, but not this one."""
        if self.chat_id is None:
            self.path = []
        else:
            self.path = self.store.path_to(self._leaf)

    def show_alternative(self, message_id: int, step: int) -> None:
        """Show the previous (-1) or next (+1) version of a message and what follows it."""
        with self._lock:
            if self._answer is not None:
                raise SessionBusyError(BUSY)
            siblings = self.store.siblings(message_id)
            index = next(i for i, s in enumerate(siblings) if s.id == message_id) + step
            if not 0 <= index < len(siblings):
                return
            self.path = self.store.switch_to(siblings[index].id)
            self._leaf = self.path[-1].id if self.path else None
        self._show()

    def delete_message(self, message_id: int) -> None:
        """Remove a message and everything after it in its branch."""
        with self._lock:
            if self._answer is not None:
                raise SessionBusyError(BUSY)
            self._leaf = self.store.delete_message(message_id)
            self._reload_path()
        self._show()
        self._emit(ChatsChanged())

    def delete_chat(self, chat_id: int) -> None:
        with self._lock:
            if chat_id == self.chat_id:
                if self._answer is not None:
                    raise SessionBusyError(BUSY)
                self.chat_id, self.path, self._leaf = None, [], None
            self.store.delete_chat(chat_id)
        self._show()
        self._emit(ChatsChanged())

    # -- the end -------------------------------------------------------------------------
    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait for every load and answer asked for so far (tests, the terminal chat)."""
        return self._jobs.wait_idle(timeout)

    def close(self, *, timeout: float = 10.0) -> None:
        """Stop an answer (keeping what it wrote), finish the worker; the engine stays."""
        self.stop()
        if not self._jobs.close(timeout):
            log.warning("the session's worker did not finish within %.0f s", timeout)
