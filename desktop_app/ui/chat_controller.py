"""The open chat on screen: the session's events drawn in the conversation view.

The conversation itself (saving, sending, stopping, versions, the model and
task) lives in ``core.session.ChatSession``; this adapter only turns its events
into view updates and the person's clicks into session calls. A finished
answer's Markdown is rendered off the GUI thread and inserted in slices; the
chat counts as answering until the last slice is in.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QMenu

from ..core.chats import UNNAMED_MODEL, StoredMessage
from ..core.engine import GenerationParams, Message, ModelInfo
from ..core.errors import ScalpelError
from ..core.presets import Preset
from ..core.errors import ConsentNeededError
from ..core.session import (AnswerFailed, AnswerFinished, AnswerRouted, AnswerStarted,
                            ChatShown, QuestionAdded, Routed)
from ..core.session.auto import is_auto
from .conversation_view import ConversationView, ShownMessage
from .error_text import for_window
from .rich_text import RenderedMessage, render_markdown
from .session_bridge import SessionBridge

FINISH_NOTES = {"length": "The answer reached its length limit.",
                "context_full": "The answer filled the model's context window.",
                "repetition": "Stopped: the model kept repeating itself. Regenerate, or try "
                              "a bigger model."}
NEW_VERSION_NOTE = ("A new version of this answer: the earlier one, and the turns that "
                    "followed it, are kept (‹ › above).")


class ChatController(QObject):
    answering_changed = Signal(bool)
    reply_stats = Signal(object)   # ReplyStats of the answer just finished
    chat_stats = Signal(object)    # ReplyStats | None: the figures of the chat just shown
    chats_changed = Signal()       # a chat was created, renamed, deleted or updated
    edit_requested = Signal(int, str)  # message id and its text: the window puts it in the box
    delete_requested = Signal(int)     # message id: the window confirms, then delete_message
    _rendered = Signal(object, object)  # ShownMessage, RenderedMessage (from the render thread)

    def __init__(self, bridge: SessionBridge, view: ConversationView, *,
                 report_error: Callable[[str], None],
                 restore_prompt: Callable[[str], None],
                 ask_consent: Callable[[ConsentNeededError], bool] = lambda _: False,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bridge, self._view = bridge, view
        self.session = bridge.session
        self.store = self.session.store
        self._report_error, self._restore_prompt = report_error, restore_prompt
        self._ask_consent = ask_consent
        self.presets_for_answer_as: Callable[[], list[Preset]] = lambda: []
        self.answering = False          # from a send until its answer is drawn in
        self._answer_id: int | None = None
        self._dropped = 0
        bridge.chat_shown.connect(self._on_chat_shown)
        bridge.question_added.connect(self._on_question)
        bridge.answer_started.connect(self._on_answer_started)
        bridge.answer_routed.connect(self._on_routed)
        bridge.model_loaded.connect(self._on_model_loaded)
        bridge.answer_progress.connect(lambda event: self._view.set_answer_route(event.text))
        bridge.text_ready.connect(self._view.append_answer_text)
        bridge.answer_finished.connect(self._on_finished)
        bridge.answer_failed.connect(self._on_failed)
        bridge.chats_changed.connect(self.chats_changed)
        self._render_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scalpel-render")
        self._rendered.connect(self._show_rendered)
        view.action_requested.connect(self._on_action)
        view.appearance_changed.connect(lambda: self.answering or self.render())

    # -- the session's state, read-only here ---------------------------------------------
    @property
    def chat_id(self) -> int | None:
        return self.session.chat_id

    @property
    def path(self) -> list[StoredMessage]:
        return self.session.path

    @property
    def model(self) -> ModelInfo | None:
        return self.session.model

    @property
    def preset(self) -> Preset | None:
        return self.session.preset

    @property
    def history(self) -> list[Message]:
        return self.session.history

    def set_preset(self, preset: Preset | None) -> None:
        self.session.set_preset(preset)

    def can_send(self) -> bool:
        return not self.answering and self.session.can_send()

    def request(self, history: list[Message]) -> tuple[list[Message], GenerationParams]:
        return self.session.request(history)

    # -- the person's requests --------------------------------------------------------
    def _attempt(self, action: Callable[[], object]) -> bool:
        try:
            return action() is not False
        except ScalpelError as exc:
            self._report_error(for_window(str(exc), exc))
            return False

    def open_chat(self, chat_id: int | None, *, at_message: int | None = None) -> bool:
        if self.answering:
            self._report_error("Stop the answer first (Esc), then switch chats.")
            return False
        opened = self._attempt(lambda: self.session.open_chat(chat_id, at_message=at_message))
        if opened and at_message is not None:
            self._view.scroll_to_message(at_message)
        return opened

    def new_chat(self) -> None:
        self._attempt(self.session.new_chat)

    def send(self, text: str, *, replacing: int | None = None) -> bool:
        """Answer ``text`` (as a new message, or as an edit of message ``replacing``)."""
        if not text.strip() or self.answering:
            return False
        if self.session.model is None and not self.session.can_send():
            self._report_error("Choose a model first: pick one above or use “Open model file…”.")
            return False
        self._set_answering(True)
        if not self._attempt(lambda: self.session.send(text, replacing=replacing)):
            self._set_answering(False)
            self.render()  # a question shown and then taken back goes from the screen too
            return False
        return True

    def regenerate(self, answer_id: int) -> bool:
        if self.answering:
            return False
        self._set_answering(True)
        if not self._attempt(lambda: self.session.regenerate(answer_id)):
            self._set_answering(False)
            return False
        return True

    def answer_as(self, answer_id: int, preset_id: str) -> bool:
        """Another version of an answer by the task ``preset_id``."""
        return self._again(lambda: self.session.answer_as(answer_id, preset_id))

    def escalate(self, answer_id: int) -> bool:
        """Another version from the organization's bigger model; in "ask" mode the first
        time in a chat the person sees what would be sent, and to whom, first."""
        if self.answering:
            return False
        try:   # not "answering" while the consent dialog is open
            started = self.session.escalate(answer_id)
        except ConsentNeededError as needed:
            if not self._ask_consent(needed):
                return False
            return self._again(lambda: self.session.escalate(answer_id, consent=True))
        except ScalpelError as exc:
            self._report_error(for_window(str(exc), exc))
            return False
        if started:
            self._set_answering(True)
        return started

    def _again(self, action: Callable[[], bool]) -> bool:
        if self.answering:
            return False
        self._set_answering(True)
        if not self._attempt(action):
            self._set_answering(False)
            return False
        return True

    def stop(self) -> None:
        self.session.stop()

    def show_alternative(self, message_id: int, step: int) -> None:
        self._attempt(lambda: self.session.show_alternative(message_id, step))

    def delete_message(self, message_id: int) -> None:
        self._attempt(lambda: self.session.delete_message(message_id))

    def last_answer_id(self) -> int | None:
        return next((m.id for m in reversed(self.path) if m.role == "assistant"), None)

    def shutdown(self) -> None:
        """The window is closing: stop rendering (the session keeps an unfinished answer)."""
        self._render_pool.shutdown(wait=True)

    # -- the session's events ----------------------------------------------------------
    @Slot(object)
    def _on_chat_shown(self, event: ChatShown) -> None:
        self._dropped = 0
        self.render()
        self.chat_stats.emit(event.last_stats)

    @Slot(object)
    def _on_question(self, event: QuestionAdded) -> None:
        if event.replaced is not None:
            self.render(upto=event.message.id)
        else:
            self._view.add_user_message(self._shown(event.message))

    @Slot(object)
    def _on_answer_started(self, event: AnswerStarted) -> None:
        self._answer_id = event.message.id
        if not self.answering:
            self._set_answering(True)
        if event.alternative[1] > 1:  # a new version: the branch up to its question
            self.render()
        self._view.begin_answer(event.model_name, alternative=event.alternative,
                                message_id=event.message.id,
                                note=NEW_VERSION_NOTE if event.alternative[1] > 1 else None)
        self.chat_stats.emit(None)  # the last answer's figures no longer apply

    @Slot(object)
    def _on_model_loaded(self, info: ModelInfo) -> None:
        # An answer asked for while the first model loaded began under a placeholder.
        self._view.set_answer_speaker(info.name, replacing=UNNAMED_MODEL)

    @Slot(object)
    def _on_routed(self, event: AnswerRouted) -> None:
        routed = event.routed
        line = (f"{routed.preset_name} · loading {routed.model}… · {routed.reason}"
                if event.loading else routed.line())
        self._view.set_answer_speaker(routed.model)  # the name the answer is saved with
        self._view.set_answer_route(line)

    @Slot(object)
    def _on_finished(self, event: AnswerFinished) -> None:
        if event.chat_id != self.chat_id or event.message is None:
            if event.restore_text:
                self._restore_prompt(event.restore_text)
            self._answer_done(full_render=True)
            return
        stats = event.finished.stats
        self.reply_stats.emit(stats)
        if stats.dropped_messages != self._dropped:
            self._dropped = stats.dropped_messages
            self._answer_done(full_render=True)
            return
        shown, dark = self._shown(event.message), self._view.is_dark()
        try:
            self._render_pool.submit(self._render_off_thread, shown, dark)
        except RuntimeError:  # shut down: the window is closing
            pass

    @Slot(object)
    def _on_failed(self, event: AnswerFailed) -> None:
        if event.restore_text:
            self._restore_prompt(event.restore_text)
        self._answer_done(full_render=True)  # the half answer (and question) go
        self._report_error(for_window(event.error, event.cause))

    def _render_off_thread(self, shown: ShownMessage, dark: bool) -> None:
        rendered = render_markdown(shown.content, message_id=shown.id, dark=dark,
                                   preset_id=shown.preset_id)
        self._rendered.emit(shown, rendered)  # queued to the GUI thread

    @Slot(object, object)
    def _show_rendered(self, shown: ShownMessage, rendered: RenderedMessage) -> None:
        self._view.finish_answer(shown, rendered, on_done=self._answer_done)

    def _answer_done(self, *, full_render: bool = False) -> None:
        self._answer_id = None
        if full_render:
            self.render()
        self._set_answering(False)

    def _set_answering(self, answering: bool) -> None:
        if answering != self.answering:
            self.answering = answering
            self.answering_changed.emit(answering)

    # -- drawing ---------------------------------------------------------------------
    def render(self, *, upto: int | None = None) -> None:
        """Draw the open branch (up to and including message ``upto``, if given)."""
        path = self.path
        if upto is not None:
            ids = [m.id for m in path]
            path = path[:ids.index(upto) + 1] if upto in ids else path
        shown = [self._shown(m) for m in path]
        self._view.show_messages(shown, dropped=self._path_index_of_dropped())

    def _shown(self, message: StoredMessage) -> ShownMessage:
        siblings = self.store.siblings(message.id)
        index = next((i for i, s in enumerate(siblings) if s.id == message.id), 0)
        stats = message.stats or {}
        routed = Routed.from_dict(stats.get("routed"))
        answer = message.role == "assistant"
        return ShownMessage(
            id=message.id, role=message.role, content=message.content, status=message.status,
            speaker="You" if not answer else (message.model or UNNAMED_MODEL),
            note=FINISH_NOTES.get(stats.get("reason")),
            alternative=(index + 1, max(1, len(siblings))), can_regenerate=answer,
            route=routed.line() if routed else None,
            can_answer_as=answer and self.session.routes_per_message,
            can_escalate=answer and self.session.escalation_mode != "off"
            and not stats.get("grounding"),
            grounding=stats.get("grounding") if answer else None,
            preset_id=message.preset_id if answer else None)

    def _path_index_of_dropped(self) -> int:
        """The path position of the first message the engine still sees."""
        if not self._dropped:
            return 0
        seen = 0
        for index, message in enumerate(self.path):
            if message.content:
                if seen == self._dropped:
                    return index
                seen += 1
        return 0

    # -- message actions -----------------------------------------------------------------
    @Slot(str, int)
    def _on_action(self, verb: str, message_id: int) -> None:
        if self.answering:
            self._report_error("Wait for the answer to finish or stop it (Esc) first.")
            return
        if verb == "regenerate":
            self.regenerate(message_id)
        elif verb == "answer_as":
            self.answer_as_menu(message_id).popup(self._view.action_point())
        elif verb == "escalate":
            self.escalate(message_id)
        elif verb in ("previous", "next"):
            self.show_alternative(message_id, -1 if verb == "previous" else 1)
        elif verb == "delete":
            self.delete_requested.emit(message_id)
        elif verb == "edit":
            self.edit_requested.emit(message_id, self._view.message_text(message_id) or "")

    def answer_as_menu(self, answer_id: int) -> QMenu:
        """The tasks that can answer again (every preset but Auto and the answer's own)."""
        menu = QMenu(self._view)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        current = next((m.preset_id for m in self.path if m.id == answer_id), None)
        for preset in self.presets_for_answer_as():
            if is_auto(preset) or preset.id == current:
                continue
            action = menu.addAction(f"Answer as {preset.name}")
            action.triggered.connect(
                lambda _=False, pid=preset.id: self.answer_as(answer_id, pid))
        return menu
