"""The open chat's state and flow: saving, sending, streaming, regenerating, editing.

Every message lives in the chat store as it happens: the person's message when
it is sent, the answer as a 'partial' row that a timer updates while it
streams, then its final text and status. A kill loses at most the last
``SAVE_INTERVAL_MS`` of an answer. The branch shown is the store's current
path; regenerating or editing adds a sibling, and the older versions stay one
click away (‹ 2/3 ›). The preset supplies the system prompt (prepended at each
send, never stored), the input template and the sampling.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from ..core.chats import ChatStore, StoredMessage
from ..core.conversation import engine_history, title_from
from ..core.engine import GenerationParams, Message, ModelInfo, ReplyFinished
from ..core.errors import ScalpelError
from ..core.presets import Preset
from ..core.rich_text import RenderedMessage, render_markdown
from .conversation_view import ConversationView, ShownMessage
from .engine_bridge import EngineBridge

SAVE_INTERVAL_MS = 1000
FINISH_NOTES = {"length": "The answer reached its length limit.",
                "context_full": "The answer filled the model's context window."}


class ChatController(QObject):
    answering_changed = Signal(bool)
    reply_stats = Signal(object)   # ReplyStats
    chats_changed = Signal()       # a chat was created, renamed, deleted or updated
    edit_requested = Signal(int, str)  # message id and its text: the window puts it in the box
    delete_requested = Signal(int)     # message id: the window confirms, then delete_message
    _rendered = Signal(object, object)  # ShownMessage, RenderedMessage (from the render thread)

    def __init__(self, bridge: EngineBridge, view: ConversationView, store: ChatStore, *,
                 params: Callable[[], GenerationParams],
                 preset_for: Callable[[str | None], Preset | None],
                 report_error: Callable[[str], None],
                 restore_prompt: Callable[[str], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bridge, self._view, self.store = bridge, view, store
        self._params, self._preset_for = params, preset_for
        self._report_error, self._restore_prompt = report_error, restore_prompt
        self.chat_id: int | None = None
        self.path: list[StoredMessage] = []
        self.model: ModelInfo | None = None
        self.preset: Preset | None = None
        self.answering = False
        self._answer: StoredMessage | None = None     # the row being streamed into
        self._sent_user: StoredMessage | None = None  # the message this answer is for, if new
        self._typed = ""
        self._created_chat: int | None = None  # the chat this send created, if any
        self._streamed: list[str] = []
        self._dropped = 0
        self._save_timer = QTimer(self)
        self._save_timer.setInterval(SAVE_INTERVAL_MS)
        self._save_timer.timeout.connect(self._save_partial)
        bridge.text_ready.connect(self._on_text)
        bridge.reply_finished.connect(self._on_finished)
        bridge.reply_failed.connect(self._on_failed)
        # A finished answer's Markdown (pygments and all) is rendered off the GUI thread.
        self._render_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scalpel-render")
        self._rendered.connect(self._show_rendered)
        view.action_requested.connect(self._on_action)
        view.appearance_changed.connect(lambda: self.answering or self.render())

    # -- state -----------------------------------------------------------------------
    @property
    def history(self) -> list[Message]:
        return engine_history(self.path, preset_for=self._preset_for)

    def set_model(self, info: ModelInfo | None) -> None:
        """The model answering from now on; None (unloaded) leaves the chat's record alone."""
        self.model = info
        if info is not None:
            self._remember_task()

    def set_preset(self, preset: Preset | None) -> None:
        self.preset = preset
        self._remember_task()

    def _remember_task(self) -> None:
        if self.chat_id is not None and not self.answering:
            self.store.set_chat_task(self.chat_id, preset_id=self.preset.id if self.preset else None,
                                     model=self.model.path if self.model else None)

    def can_send(self) -> bool:
        return self.model is not None and not self.answering and not self._bridge.busy

    def request(self, history: list[Message]) -> tuple[list[Message], GenerationParams]:
        if self.preset is None:
            return list(history), self._params()
        return self.preset.messages(history), self.preset.generation_params()

    # -- chats -----------------------------------------------------------------------
    def open_chat(self, chat_id: int | None, *, at_message: int | None = None) -> bool:
        if self.answering:
            self._report_error("Stop the answer first (Esc), then switch chats.")
            return False
        self.chat_id = chat_id
        self.path = self.store.path(chat_id) if chat_id is not None else []
        self._dropped = 0
        self.render()
        if at_message is not None:
            self._reveal(at_message)
        return True

    def _reveal(self, message_id: int) -> None:
        if all(m.id != message_id for m in self.path):  # the hit is on another branch
            self.path = self.store.switch_to(message_id)
            self.render()
        self._view.scroll_to_message(message_id)

    def new_chat(self) -> None:
        if self.answering:
            self._bridge.stop()
        self.open_chat(None)

    def render(self) -> None:
        shown = [self._shown(m, last=i == len(self.path) - 1) for i, m in enumerate(self.path)]
        self._view.show_messages(shown, dropped=self._path_index_of_dropped())

    def _shown(self, message: StoredMessage, *, last: bool) -> ShownMessage:
        siblings = self.store.siblings(message.id)
        index = next(i for i, s in enumerate(siblings) if s.id == message.id)
        reason = (message.stats or {}).get("reason")
        return ShownMessage(
            id=message.id, role=message.role, content=message.content, status=message.status,
            speaker="You" if message.role == "user" else (message.model or "Assistant"),
            note=FINISH_NOTES.get(reason), alternative=(index + 1, len(siblings)),
            can_regenerate=last and message.role == "assistant")

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

    # -- sending -----------------------------------------------------------------------
    def send(self, text: str, *, replacing: int | None = None) -> bool:
        """Answer ``text`` (as a new message, or as an edit of message ``replacing``)."""
        if not text.strip():
            return False
        if self.model is None:
            self._report_error("Choose a model first: pick one above or use “Open model file…”.")
            return False
        if not self.can_send():
            return False
        self._created_chat = None
        if self.chat_id is None:
            chat = self.store.create_chat(title=title_from(text),
                                          preset_id=self.preset.id if self.preset else None,
                                          model=self.model.path)
            self.chat_id = self._created_chat = chat.id
        parent = self._parent_for_new_message(replacing)
        user = self.store.add_message(self.chat_id, parent_id=parent, role="user", content=text,
                                      preset_id=self.preset.id if self.preset else None)
        self._typed, self._sent_user = text, user
        self.path = self.store.path(self.chat_id)
        if replacing is not None:
            self.render()
        else:
            self._view.add_user_message(self._shown(user, last=False))
        return self._start_answer(parent_id=user.id)

    def _parent_for_new_message(self, replacing: int | None) -> int | None:
        if replacing is None:
            return self.path[-1].id if self.path else None
        original = next(m for m in self.path if m.id == replacing)
        return original.parent_id

    def regenerate(self, answer_id: int) -> bool:
        answer = next((m for m in self.path if m.id == answer_id), None)
        if answer is None or answer.role != "assistant" or not self.can_send():
            return False
        self._sent_user = None
        self.path = self.path[:self.path.index(answer)]  # up to the question; the answer follows
        self.render()
        return self._start_answer(parent_id=answer.parent_id)

    def _start_answer(self, *, parent_id: int | None) -> bool:
        try:
            messages, params = self.request(self.history)
        except ScalpelError as exc:
            self._undo_send()
            self._report_error(str(exc))
            return False
        self._answer = self.store.add_message(
            self.chat_id, parent_id=parent_id, role="assistant", content="",
            model=self.model.name, preset_id=self.preset.id if self.preset else None,
            status="partial")
        self._streamed = []
        self._view.begin_answer(self.model.name)
        self._set_answering(True)
        self._save_timer.start()
        self._bridge.generate(messages, params)
        self.chats_changed.emit()
        return True

    def stop(self) -> None:
        if self.answering:
            self._bridge.stop()

    def _set_answering(self, answering: bool) -> None:
        self.answering = answering
        self.answering_changed.emit(answering)

    # -- streaming -----------------------------------------------------------------------
    @Slot(str)
    def _on_text(self, text: str) -> None:
        self._streamed.append(text)
        self._view.append_answer_text(text)

    @Slot()
    def _save_partial(self) -> None:
        if self._answer is not None:
            self.store.update_message(self._answer.id, content="".join(self._streamed),
                                      status="partial")

    @Slot(object)
    def _on_finished(self, finished: ReplyFinished) -> None:
        self._save_timer.stop()
        answer, self._answer = self._answer, None
        if answer is None:
            return
        if not finished.text.strip() and finished.reason == "cancelled":
            self.store.delete_message(answer.id)  # stopped before any word: nothing to keep
            self._undo_send()
        else:
            status = "cancelled" if finished.reason == "cancelled" else "complete"
            self.store.update_message(answer.id, content=finished.text, status=status,
                                      stats={**finished.stats.to_dict(), "reason": finished.reason})
        self._finish(finished.stats.dropped_messages)
        self.reply_stats.emit(finished.stats)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._save_timer.stop()
        answer, self._answer = self._answer, None
        if answer is not None:
            self.store.delete_message(answer.id)
            self._undo_send()
        self._finish(self._dropped, full_render=True)  # the half answer (and question) go
        self._report_error(message)

    def _undo_send(self) -> None:
        """Take back the person's new message (the text returns to the message box), and
        the chat it started, so a refused first message leaves no empty chat behind."""
        if self._sent_user is not None:
            self.store.delete_message(self._sent_user.id)
            if self._created_chat is not None and self._created_chat == self.chat_id \
                    and not self.store.all_messages(self.chat_id):
                self.store.delete_chat(self.chat_id)
                self.chat_id = None
                self.chats_changed.emit()
            self._restore_prompt(self._typed)
            self._sent_user = None
        self._created_chat = None

    def _finish(self, dropped: int, *, full_render: bool = False) -> None:
        self.path = self.store.path(self.chat_id) if self.chat_id is not None else []
        last = self.path[-1] if self.path else None
        if full_render or dropped != self._dropped or last is None or last.role != "assistant":
            self._dropped = dropped
            self.render()
            self._finished()
            return
        shown, dark = self._shown(last, last=True), self._view.is_dark()
        try:
            self._render_pool.submit(self._render_off_thread, shown, dark)
        except RuntimeError:  # shut down: the window is closing
            pass

    def _render_off_thread(self, shown: ShownMessage, dark: bool) -> None:
        rendered = render_markdown(shown.content, message_id=shown.id, dark=dark)
        self._rendered.emit(shown, rendered)  # queued to the GUI thread

    @Slot(object, object)
    def _show_rendered(self, shown: ShownMessage, rendered: RenderedMessage) -> None:
        self._view.finish_answer(shown, rendered, on_done=self._finished)

    def _finished(self) -> None:
        self._set_answering(False)
        self._remember_task()
        self.chats_changed.emit()

    def shutdown(self) -> None:
        """The window is closing: keep what an unfinished answer has so far, stop rendering."""
        self._save_timer.stop()
        answer, self._answer = self._answer, None
        if answer is not None:
            text = "".join(self._streamed)
            if text.strip():
                self.store.update_message(answer.id, content=text, status="cancelled")
            else:
                self.store.delete_message(answer.id)
        self._render_pool.shutdown(wait=True)

    # -- message actions ---------------------------------------------------------------------
    @Slot(str, int)
    def _on_action(self, verb: str, message_id: int) -> None:
        if self.answering:
            self._report_error("Wait for the answer to finish or stop it (Esc) first.")
            return
        if verb == "regenerate":
            self.regenerate(message_id)
        elif verb in ("previous", "next"):
            self.show_alternative(message_id, -1 if verb == "previous" else 1)
        elif verb == "delete":
            self.delete_requested.emit(message_id)
        elif verb == "edit":
            self.edit_requested.emit(message_id, self._view.message_text(message_id) or "")

    def show_alternative(self, message_id: int, step: int) -> None:
        siblings = self.store.siblings(message_id)
        index = next(i for i, s in enumerate(siblings) if s.id == message_id) + step
        if 0 <= index < len(siblings):
            self.path = self.store.switch_to(siblings[index].id)
            self.render()

    def delete_message(self, message_id: int) -> None:
        self.store.delete_message(message_id)
        self.path = self.store.path(self.chat_id) if self.chat_id is not None else []
        self.render()
        self.chats_changed.emit()

    def last_answer_id(self) -> int | None:
        return next((m.id for m in reversed(self.path) if m.role == "assistant"), None)
