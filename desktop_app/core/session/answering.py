"""ChatSession's answers: send, regenerate, stop, and how an answer ends.

A mixin of ``ChatSession`` (chat_session.py), which owns the state these methods
change; split out to keep each module readable.
"""

from __future__ import annotations

import logging
import re

from ..chats import UNNAMED_MODEL, StoredMessage
from ..conversation import title_from
from ..engine.types import ReplyFinished, ReplyStats
from ..errors import NoModelLoadedError, ScalpelError, SessionBusyError
from .answer import Answer
from .events import (AnswerFailed, AnswerFinished, AnswerStarted, ChatsChanged, Notice,
                     QuestionAdded)

log = logging.getLogger(__name__)

BUSY = "An answer is still being written; stop it first."


class Answering:
    def send(self, text: str, *, replacing: int | None = None, remote: bool = False,
             consent: bool = False) -> bool:
        """Answer ``text``: a new message, or a new version of message ``replacing``;
        ``remote``: by the organization's bigger model (orchestration.py). False for
        empty text; raises a ScalpelError with the reason it cannot be sent."""
        if not text.strip():
            return False
        text = _valid_text(text)
        with self._lock:
            if not remote:
                self._check_can_answer()
            elif self._answer is not None:
                raise SessionBusyError(BUSY)
            plan = self._plan_for_send(text=text, remote=remote, consent=consent)
            created = self.chat_id is None
            if created:
                self.chat_id = self.store.create_chat(
                    title=title_from(text), preset_id=self._preset_id,
                    model=self.model.path if self.model else None).id
                if self._keep_new_chat_local:
                    self.store.set_keep_local(self.chat_id, True)
                    self._keep_new_chat_local = False
                self._remember_new_chat_documents()
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
            self._begin(question.id, question=question, created=created, leaf_before=leaf_before,
                        plan=plan)
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
            self._begin(answer.parent_id, question=None, created=False, leaf_before=leaf_before,
                        plan=self._plan_for_send())
        return True

    def _check_can_answer(self) -> None:
        if self._answer is not None:
            raise SessionBusyError(BUSY)
        if self.model is None and not self._loads:
            raise NoModelLoadedError("Choose a model first.")

    def _begin(self, parent_id: int | None, *, question: StoredMessage | None,
               created: bool, leaf_before: int | None, plan) -> None:
        name = self.model.name if self.model else UNNAMED_MODEL
        if plan.remote:
            name = getattr(self._escalation, "name", None) or self._escalation.model
        try:
            history = self.history
            messages, params = (None, None) if plan.route or plan.preset or plan.remote \
                else self.request(history)
            row = self.store.add_message(
                self.chat_id, parent_id=parent_id, role="assistant", content="", model=name,
                preset_id=plan.preset.id if plan.preset else self._preset_id, status="partial")
        except ScalpelError:
            # Nothing is asked of the engine: the question goes back to the person (a full
            # disk between the two rows would otherwise leave it stored and resent).
            self._undo(question, created)
            self._leaf = leaf_before
            self._reload_path_quietly()
            raise
        answer = Answer(chat_id=self.chat_id, row=row, messages=messages, params=params,
                        question=question, created_chat=created,
                        leaf_before=leaf_before, history=history, plan=plan,
                        documents=() if plan.remote else self.documents)
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
        """On the worker: choose the task and model (orchestration.py), stream the
        answer, then record how it ended."""
        try:
            if not answer.stop_requested:
                self._prepare(answer)
            with self._lock:
                answer.started.set()
                engine = answer.engine or self.engine
                if answer.stop_requested:
                    handle = None
                else:
                    handle = answer.handle = engine.generate(answer.messages, answer.params) \
                        if answer.engine is not None or engine.model_info is not None else None
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
            if answer.engine is not None and answer.text.strip():
                # the bigger model's answer broke off: what came is kept, marked as failed
                self._emit(Notice(f"{exc} The part that arrived is kept."))
                self._end_answer(answer, reason="failed", finished=ReplyFinished(
                    reason="failed", text=answer.text, stats=ReplyStats()))
                return
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
                status = reason if reason in ("cancelled", "failed") else "complete"
                shown = self._writer.save(answer, content=text, status=status,
                                          stats={**finished.stats.to_dict(), "reason": reason,
                                                 **self._answer_notes(answer, finished, text)})
                restore = None
            self._answer = None
            if answer.chat_id == self.chat_id:
                self._reload_path_quietly()
        self._emit(AnswerFinished(answer.chat_id, shown, finished, restore))
        self._after_answer()
        self._after_finished(answer, finished, text, shown.id if shown else None)

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
            self.store.delete_message(message_id, scrub=False)
        except ScalpelError as exc:
            log.warning("could not delete message %d: %s", message_id, exc)

    def _reload_path_quietly(self) -> None:
        try:
            self._reload_path()
        except ScalpelError as exc:
            log.warning("could not re-read the chat: %s", exc)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_text(text: str) -> str:
    """Text that can be stored and sent: lone surrogates (from undecodable bytes in a
    terminal's arguments, say) become U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)
