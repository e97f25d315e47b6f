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
import re
import threading
from typing import Callable

from ..chats import ChatStore, StoredMessage
from ..conversation import engine_history, title_from
from ..engine.contract import Engine
from ..engine.types import (GenerationParams, LoadOptions, Message, ModelInfo, ReplyFinished,
                            ReplyStats)
from ..errors import NoModelLoadedError, ScalpelError, SessionBusyError
from ..presets import Preset
from .answer import Answer, AnswerWriter
from .events import (AnswerFailed, AnswerFinished, AnswerStarted, ChatsChanged, ChatShown,
                     EngineRestarting, ModelLoaded, ModelLoadFailed, ModelLoading, ModelQueued,
                     ModelUnloaded, QuestionAdded, SessionEvent, SessionState, StateChanged)
from .jobs import JobThread

log = logging.getLogger(__name__)

BUSY = "An answer is still being written; stop it first."


class ChatSession:
    def __init__(self, store: ChatStore, engine: Engine, *,
                 preset_for: Callable[[str | None], Preset | None],
                 default_params: Callable[[], GenerationParams] = GenerationParams,
                 save_interval_s: float = 1.0) -> None:
        self.store = store
        self.engine = engine
        self._preset_for = preset_for
        self._default_params = default_params
        self._listeners: list[Callable[[SessionEvent], None]] = []
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
        engine.on_restart = lambda name: self._emit(EngineRestarting(name))

    # -- subscribers -----------------------------------------------------------------
    def subscribe(self, listener: Callable[[SessionEvent], None]) -> Callable[[], None]:
        """``listener(event)`` for every event from now on; returns the unsubscribe."""
        self._listeners.append(listener)
        return lambda: listener in self._listeners and self._listeners.remove(listener)

    def _emit(self, event: SessionEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - one broken face must not break the chat
                log.exception("a session listener failed on %s", type(event).__name__)

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

    # -- answers -------------------------------------------------------------------------
    def send(self, text: str, *, replacing: int | None = None) -> bool:
        """Answer ``text``: a new message, or a new version of message ``replacing``.
        False for empty text; raises a ScalpelError with the reason it cannot be sent."""
        if not text.strip():
            return False
        text = _valid_text(text)
        with self._lock:
            self._check_can_answer()
            created = self.chat_id is None
            if created:
                self.chat_id = self.store.create_chat(
                    title=title_from(text), preset_id=self._preset_id,
                    model=self.model.path if self.model else None).id
            if replacing is None:
                parent = self.path[-1].id if self.path else None
            else:
                parent = next(m for m in self.path if m.id == replacing).parent_id
            leaf_before = self._leaf
            question = self.store.add_message(
                self.chat_id, parent_id=parent, role="user", content=text,
                preset_id=self._preset_id)
            self._leaf = question.id
            self._reload_path()
            self._emit(QuestionAdded(self.chat_id, question, replacing))
            self._begin(question.id, question=question, created=created, typed=text,
                        leaf_before=leaf_before)
        return True

    def regenerate(self, answer_id: int) -> bool:
        """Another version of an answer; the earlier one (and what followed it) stays
        one ‹ › step away."""
        with self._lock:
            answer = next((m for m in self.path if m.id == answer_id), None)
            if answer is None or answer.role != "assistant":
                return False
            self._check_can_answer()
            leaf_before = self._leaf
            self.path = self.path[:self.path.index(answer)]
            self._leaf = answer.parent_id
            self._begin(answer.parent_id, question=None, created=False, typed="",
                        leaf_before=leaf_before)
        return True

    def _check_can_answer(self) -> None:
        if self._answer is not None:
            raise SessionBusyError(BUSY)
        if self.model is None and not self._loads:
            raise NoModelLoadedError("Choose a model first.")

    def _begin(self, parent_id: int | None, *, question: StoredMessage | None,
               created: bool, typed: str, leaf_before: int | None) -> None:
        try:
            messages, params = self.request(self.history)
        except ScalpelError:
            self._undo(question, created)
            self._leaf = leaf_before
            self._reload_path()
            raise
        name = self.model.name if self.model else "Assistant"
        row = self.store.add_message(
            self.chat_id, parent_id=parent_id, role="assistant", content="", model=name,
            preset_id=self._preset_id, status="partial")
        answer = Answer(chat_id=self.chat_id, row=row, messages=messages, params=params,
                        question=question, created_chat=created, typed=typed,
                        leaf_before=leaf_before)
        self._leaf = row.id
        self._answer = answer
        siblings = self.store.siblings(row.id)
        self._emit(AnswerStarted(self.chat_id, row, name, (len(siblings), len(siblings))))
        self._emit(ChatsChanged())
        self._settle()
        self._jobs.submit(lambda: self._run_answer(answer))

    def stop(self) -> None:
        """Stop the answer (any thread); what it has written so far is kept."""
        with self._lock:
            if self._answer is not None:
                self._stop_locked()

    def _stop_locked(self) -> None:
        answer = self._answer
        answer.stop_requested = True
        if answer.handle is not None:
            answer.handle.cancel()
        self._settle()

    def _run_answer(self, answer: Answer) -> None:
        """On the worker: stream the answer, then record how it ended."""
        with self._lock:
            answer.started.set()
            if answer.stop_requested:
                handle = None
            else:
                handle = answer.handle = self.engine.generate(answer.messages, answer.params) \
                    if self.engine.model_info is not None else None
        try:
            if handle is None and not answer.stop_requested:
                raise NoModelLoadedError("No model is loaded; choose one and send again.")
            self._settle()
            if handle is None:
                self._end_answer(answer, reason="cancelled", finished=None)
                return
            with handle:
                finished = self._writer.stream(answer, handle)
            self._end_answer(answer, reason=finished.reason, finished=finished)
        except ScalpelError as exc:
            self._fail_answer(answer, str(exc), exc)
        except Exception as exc:  # noqa: BLE001 - a bug must not leave the chat answering
            log.exception("the answer failed")
            self._fail_answer(answer, f"Something went wrong while answering "
                                      f"({type(exc).__name__}); details are in the log.")

    def _end_answer(self, answer: Answer, *, reason: str,
                    finished: ReplyFinished | None) -> None:
        finished = finished or ReplyFinished(reason="cancelled", text="", stats=ReplyStats())
        text = finished.text if finished.text or not answer.parts else answer.text
        with self._lock:
            if not text.strip() and reason == "cancelled":  # stopped before any word
                self._delete_quietly(answer.row.id)
                restore = self._undo(answer.question, answer.created_chat, chat_id=answer.chat_id)
                self._back_to(answer)
                shown = None
            else:
                status = "cancelled" if reason == "cancelled" else "complete"
                shown = self._writer.save(answer, content=text, status=status,
                                          stats={**finished.stats.to_dict(), "reason": reason})
                restore = None
            self._answer = None
            if answer.chat_id == self.chat_id:
                self._reload_path_quietly()
        self._emit(AnswerFinished(answer.chat_id, shown, finished, restore))
        self._after_answer()

    def _fail_answer(self, answer: Answer, error: str,
                     cause: ScalpelError | None = None) -> None:
        with self._lock:
            self._delete_quietly(answer.row.id)
            restore = self._undo(answer.question, answer.created_chat, chat_id=answer.chat_id)
            self._back_to(answer)
            self._answer = None
            if answer.chat_id == self.chat_id:
                self._reload_path_quietly()
        self._emit(AnswerFailed(answer.chat_id, error, restore, cause))
        self._after_answer(error)

    def _back_to(self, answer: Answer) -> None:
        """An answer taken back: its chat shows the branch it showed before the send."""
        if answer.chat_id == self.chat_id:
            self._leaf = answer.leaf_before

    def _after_answer(self, error: str | None = None) -> None:
        self._emit(ChatsChanged())
        self._remember_task()
        pending, self._pending_load = self._pending_load, None
        if pending is not None:
            self.load_model(*pending)
        self._settle(error)

    def _undo(self, question: StoredMessage | None, created: bool, *,
              chat_id: int | None = None) -> str | None:
        """Take back a question this send added (its text goes back to the person), and
        the chat it started if that is now empty. Returns the text to give back."""
        if question is None:
            return None
        chat_id = chat_id if chat_id is not None else self.chat_id
        self._delete_quietly(question.id)
        if created and chat_id is not None:
            try:
                if not self.store.all_messages(chat_id):
                    self.store.delete_chat(chat_id)
                    if self.chat_id == chat_id:
                        self.chat_id, self.path, self._leaf = None, [], None
            except ScalpelError as exc:
                log.warning("could not remove the empty chat %s: %s", chat_id, exc)
        return question.content

    def _delete_quietly(self, message_id: int) -> None:
        try:
            self.store.delete_message(message_id)
        except ScalpelError as exc:
            log.warning("could not delete message %d: %s", message_id, exc)

    def _reload_path_quietly(self) -> None:
        try:
            self._reload_path()
        except ScalpelError as exc:
            log.warning("could not re-read the chat: %s", exc)

    # -- the task and the model ----------------------------------------------------------
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

    # -- the end -------------------------------------------------------------------------
    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait for every load and answer asked for so far (tests, the terminal chat)."""
        return self._jobs.wait_idle(timeout)

    def close(self, *, timeout: float = 10.0) -> None:
        """Stop an answer (keeping what it wrote), finish the worker; the engine stays."""
        self.stop()
        if not self._jobs.close(timeout):
            log.warning("the session's worker did not finish within %.0f s", timeout)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_text(text: str) -> str:
    """Text that can be stored and sent: lone surrogates (from undecodable bytes in a
    terminal's arguments, say) become U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)
