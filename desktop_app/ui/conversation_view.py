"""The conversation: messages as rich text, with per-message actions and live streaming.

A chat is shown by ``show_messages`` (one ``setHtml`` when a chat is opened, a
branch is switched or a message edited or deleted). Streaming never re-renders:
``begin_answer`` writes the answer's heading, ``append_answer_text`` inserts
text at the end with a cursor, and ``finish_answer`` replaces just that
answer's range with its Markdown rendering (code highlighted, with Copy links).

Actions are links (``action:<verb>:<message id>``, ``copy:<id>:<block>``) that
the view turns into ``action_requested`` signals; copying is done here. The message
actions are drawn as buttons (``message_buttons.py``: why links and not a hover toolbar),
shown for the message under the mouse, the one Tab reached and the last answer
(``action_rows.py``), and the text keeps a readable column in a wide window
(``readable_column.py``).
An answer that is a JSON document is shown as a JSON block (``rich_text.py``).
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from typing import Callable

from PySide6.QtCore import QEvent, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import (QGuiApplication, QPalette, QTextBlockFormat, QTextCharFormat,
                           QTextCursor, QTextDocument)
from PySide6.QtWidgets import QTextBrowser, QWidget

from .action_rows import ActionRows
from .message_buttons import MessageButtons, buttons_html
from .readable_column import DOCUMENT_MARGIN, ReadableColumn
from .rich_text import CodeBlock, RenderedMessage, escape_plain, render_markdown
from .sources_view import grounding_html

INSERT_BUDGET_S = 0.008  # a finished answer is inserted in slices this long, between events

STATUS_NOTES = {"cancelled": "Stopped.", "failed": "Not answered.",
                "partial": "Interrupted: the app closed while this answer was being written."}


@dataclass(frozen=True)
class ShownMessage:
    """What the view needs to show one message (built by the chat controller)."""
    id: int
    role: str                    # "user" or "assistant"
    speaker: str                 # "You" or the model's name
    content: str
    status: str = "complete"     # complete, partial (interrupted), cancelled, failed
    note: str | None = None      # e.g. "The answer reached its length limit."
    alternative: tuple[int, int] = (1, 1)  # (this one, of how many) regenerations/edits
    can_regenerate: bool = False
    route: str | None = None     # where the answer went and why (Auto, Answer as, escalation)
    can_answer_as: bool = False  # "Answer as …": another version by another task
    can_escalate: bool = False   # "Ask the bigger model"
    grounding: dict | None = None  # the documents it answered from (sources_view.py)
    preset_id: str | None = None   # the task that wrote it ("json": shown as a JSON block)


class ConversationView(ActionRows, MessageButtons, ReadableColumn, QTextBrowser):
    action_requested = Signal(str, int)   # verb, message id
    copied = Signal(str)                  # what was copied, for a status message
    source_link_clicked = Signal(str)     # source:/openfile: links of an answer's sources
    appearance_changed = Signal()         # light/dark switched: the chat should be re-rendered

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversation")
        self.setAccessibleName("Conversation")
        self.setOpenExternalLinks(False)
        self.setOpenLinks(False)
        self.setUndoRedoEnabled(False)
        self.document().setDocumentMargin(DOCUMENT_MARGIN)
        self._column_margin = DOCUMENT_MARGIN
        self.anchorClicked.connect(self._on_link)
        self._init_buttons()
        self._code: dict[int, tuple[CodeBlock, ...]] = {}
        self._contents: dict[int, str] = {}
        self._rendered: dict[tuple[int, str, bool], RenderedMessage] = {}
        self._pending_html: list[str] = []
        self._on_inserted: Callable[[], None] | None = None
        self._follow_after_insert = False
        self._answer_start: int | None = None   # where the streaming answer's heading begins
        self._route_at: tuple[int, int] | None = None  # the streaming answer's route line
        self._speaker_at: tuple[int, int] | None = None  # the streaming answer's speaker
        self._streamed_chars = 0
        self._init_rows()
        self._show_placeholder()

    # -- whole chats ---------------------------------------------------------------
    def show_messages(self, messages: list[ShownMessage], *, dropped: int = 0) -> None:
        """Render a whole chat; ``dropped`` oldest messages are marked as out of context."""
        self._answer_start = None
        self._pending_html = []
        if not messages:
            self._show_placeholder()
            return
        shown_ids = {m.id for m in messages}
        self._rendered = {k: v for k, v in self._rendered.items() if k[0] in shown_ids}
        self._placeholder = False
        parts = []
        for index, message in enumerate(messages):
            if dropped and index == dropped:
                parts.append(self._dropped_marker(dropped))
            parts.append(self._message_html(message))
        self.setHtml("".join(parts))
        self._fit_column(force=True)
        self._scroll_to_bottom()
        self._hovered = self._keyboard = None  # the ids may be gone, or elsewhere now
        self._rehover()
        self.sync_rows()

    def scroll_to_message(self, message_id: int) -> None:
        self.scrollToAnchor(f"m{message_id}")

    def message_text(self, message_id: int) -> str | None:
        return self._contents.get(message_id)

    # -- streaming -------------------------------------------------------------------
    def add_user_message(self, message: ShownMessage) -> None:
        self._clear_placeholder()
        self._insert_html(self._message_html(message))
        self._scroll_to_bottom()

    def begin_answer(self, speaker: str, *, message_id: int | None = None,
                     alternative: tuple[int, int] = (1, 1), note: str | None = None) -> None:
        """The heading of an answer about to stream (with ‹ n/m › when it is a new version
        of an earlier one, and ``note`` under it)."""
        self._clear_placeholder()
        cursor = self._end_cursor()
        self._answer_start = cursor.position()
        heading = None
        if message_id is not None:
            heading = ShownMessage(id=message_id, role="assistant", speaker=speaker, content="",
                                   alternative=alternative)
        self._insert_html(self._heading_html(speaker, heading))
        found = self.document().find(speaker, self._answer_start,
                                     QTextDocument.FindFlag.FindCaseSensitively)
        self._speaker_at = (found.selectionStart(), found.selectionEnd()) \
            if not found.isNull() else None
        if note:
            self._insert_html(self._note_html(note))
        cursor = self._end_cursor()
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        self._streamed_chars = 0
        self._route_at = None
        self._scroll_to_bottom()  # a new answer is always shown; streaming then follows it

    def set_answer_route(self, line: str) -> None:
        """The streaming answer's route line ("Code assistant · Coder · a code block…"),
        under its heading; a later line replaces it while no text has streamed."""
        if self._answer_start is None or self._streamed_chars:
            return
        follow = self._is_scrolled_to_bottom()  # the line must not end the following
        self._put_route_line(line)
        if follow:
            self._scroll_to_bottom()

    def set_answer_speaker(self, speaker: str, *, replacing: str | None = None) -> None:
        """Rename the streaming answer's heading (only from ``replacing``, when given): it
        began before the model answering it was known (while the first model loads, or
        the model Auto moves to)."""
        if self._answer_start is None or self._speaker_at is None:
            return
        start, end = self._speaker_at
        cursor = QTextCursor(self.document())
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        shown = cursor.selectedText()
        if shown == speaker or (replacing is not None and shown != replacing):
            return
        style = cursor.charFormat()
        cursor.insertText(speaker, style)
        self._speaker_at = (start, cursor.position())
        if self._route_at is not None:  # the line under the heading moved with it
            shift = cursor.position() - end
            self._route_at = (self._route_at[0] + shift, self._route_at[1] + shift)

    def _put_route_line(self, line: str) -> None:
        cursor = self._end_cursor()
        if self._route_at is not None:
            start, end = self._route_at
            cursor.setPosition(start)
            cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
            cursor.insertHtml(self._route_html(line))
            self._route_at = (start, cursor.position())
            return
        end = self._end_cursor()
        end.movePosition(QTextCursor.MoveOperation.PreviousBlock)
        end.movePosition(QTextCursor.MoveOperation.EndOfBlock)
        start = end.position()
        end.insertBlock()
        end.insertHtml(self._route_html(line))
        self._route_at = (start + 1, end.position())

    def append_answer_text(self, text: str) -> None:
        if self._answer_start is None or not text:
            return
        follow = self._is_scrolled_to_bottom()
        self._end_cursor().insertText(text)
        self._streamed_chars += len(text)
        if follow:
            self._scroll_to_bottom()

    def finish_answer(self, message: ShownMessage, rendered: RenderedMessage | None = None, *,
                      on_done: Callable[[], None] | None = None) -> None:
        """Replace the streamed text (and its heading) with the rendered message.

        ``rendered`` may be prepared off the GUI thread. It is inserted a few blocks
        at a time, yielding to the event loop between slices so a long answer never
        freezes the window; ``on_done`` runs when the last slice is in.
        """
        if self._answer_start is None:
            if on_done:
                on_done()
            return
        if rendered is not None:
            self._remember(message, rendered)
        follow = self._is_scrolled_to_bottom()
        cursor = self._end_cursor()
        cursor.setPosition(self._answer_start, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        self._pending_html = self._message_parts(message)
        self._follow_after_insert = follow
        self._on_inserted = on_done
        self._insert_slice()

    @Slot()
    def _insert_slice(self) -> None:
        started = time.perf_counter()
        while self._pending_html and time.perf_counter() - started < INSERT_BUDGET_S:
            self._insert_html(self._pending_html.pop(0))
        if self._pending_html:
            QTimer.singleShot(0, self._insert_slice)
            return
        self._answer_start = None
        self._row_index = None  # the finished answer's rows are in: it is the last answer
        if self._follow_after_insert:
            self._scroll_to_bottom()
        self.sync_rows()
        done, self._on_inserted = self._on_inserted, None
        if done:
            done()

    def streamed_text_length(self) -> int:
        return self._streamed_chars

    def clear_conversation(self) -> None:
        self._answer_start = None
        self._show_placeholder()

    # -- html --------------------------------------------------------------------------
    def _dark(self) -> bool:
        return self.palette().color(QPalette.ColorRole.Base).lightness() < 128

    def _muted(self) -> str:
        return self.palette().color(QPalette.ColorRole.PlaceholderText).name()

    def _heading_html(self, speaker: str, message: ShownMessage | None) -> str:
        colour = self.palette().color(QPalette.ColorRole.Link).name()
        anchor = f"<a name='m{message.id}'></a>" if message is not None else ""
        title = (f"<p style='margin-top:16px; margin-bottom:2px'>{anchor}"
                 f"<b style='color:{colour}'>{html.escape(speaker)}</b></p>")
        if message is not None and message.alternative[1] > 1:
            this, count = message.alternative
            return title + self._buttons_html(
                [("previous", "‹", "Previous version"), None, ("next", "›", "Next version")],
                message.id, counter=f"{this}/{count}")
        return title

    def _route_html(self, line: str) -> str:
        return (f"<span style='color:{self._muted()}; font-size:small'>"
                f"{html.escape(line)}</span>")

    def _note_html(self, note: str) -> str:
        return f"<p style='color:{self._muted()}'><i>{html.escape(note)}</i></p>"

    def _message_html(self, message: ShownMessage) -> str:
        return "".join(self._message_parts(message))

    def _message_parts(self, message: ShownMessage) -> list[str]:
        self._contents[message.id] = message.content
        self._roles[message.id] = message.role
        if message.role == "assistant":
            body = list(self._render(message).parts)
        else:
            body = [f"<p style='margin-top:2px'>{escape_plain(message.content)}</p>"]
        notes = [n for n in (STATUS_NOTES.get(message.status), message.note) if n]
        note_html = "".join(self._note_html(n) for n in notes)
        route = (f"<p style='margin-top:0px; margin-bottom:2px'>{self._route_html(message.route)}"
                 "</p>" if message.route else "")
        sources = grounding_html(message.id, message.grounding, muted=self._muted()) \
            if message.grounding else ""
        return [self._heading_html(message.speaker, message) + route, *body,
                sources + note_html + self._actions_html(message)]

    def _render(self, message: ShownMessage) -> RenderedMessage:
        key = (message.id, message.content, self._dark(), message.preset_id)
        rendered = self._rendered.get(key)
        if rendered is None:
            rendered = render_markdown(message.content, message_id=message.id, dark=key[2],
                                       preset_id=message.preset_id)
            self._remember(message, rendered)
        self._code[message.id] = rendered.code_blocks
        return rendered

    def _remember(self, message: ShownMessage, rendered: RenderedMessage) -> None:
        self._rendered[(message.id, message.content, self._dark(), message.preset_id)] = rendered
        self._code[message.id] = rendered.code_blocks

    def is_dark(self) -> bool:
        return self._dark()

    def _actions_html(self, message: ShownMessage) -> str:
        verbs = [("copy", "Copy", "Copy this message")]
        if message.role == "user":
            verbs.append(("edit", "Edit", "Edit this question and send it again"))
        if message.can_regenerate:
            verbs.append(("regenerate", "Regenerate", "Write another version of this answer"))
        if message.can_answer_as:
            verbs.append(("answer_as", "Answer as…", "Another version by another task"))
        if message.can_escalate:
            verbs.append(("escalate", "Ask the bigger model",
                          "Another version from your organization's bigger model"))
        verbs.append(("delete", "Delete", "Delete this message and what follows it"))
        return self._buttons_html(verbs, message.id)

    def _buttons_html(self, verbs: list, message_id: int, *, counter: str = "") -> str:
        return buttons_html(verbs, message_id, self.palette(), counter=counter,
                            shown=False)  # drawn when wanted (action_rows.py)

    def _dropped_marker(self, dropped: int) -> str:
        return (f"<p align='center' style='color:{self._muted()}; margin:12px'>"
                f"<i>— {dropped} earlier message{'s' if dropped != 1 else ''} above "
                "no longer fit the model's context and are left out of its view —</i></p>")

    # -- links ---------------------------------------------------------------------------
    @Slot(QUrl)
    def _on_link(self, url: QUrl) -> None:
        scheme, _, rest = url.toString().partition(":")
        if scheme == "copy":
            message_id, _, index = rest.partition(":")
            self._copy_code(int(message_id), int(index))
        elif scheme in ("source", "openfile"):
            self.source_link_clicked.emit(url.toString())
        elif scheme == "action":
            verb, _, message_id = rest.partition(":")
            if verb == "copy":
                self.copy_message(int(message_id))
            else:
                self.action_requested.emit(verb, int(message_id))

    def copy_message(self, message_id: int) -> None:
        text = self._contents.get(message_id)
        if text is not None:
            QGuiApplication.clipboard().setText(text)
            self.copied.emit("Message copied")

    def _copy_code(self, message_id: int, index: int) -> None:
        blocks = self._code.get(message_id, ())
        if 0 <= index < len(blocks):
            QGuiApplication.clipboard().setText(blocks[index].code)
            self.copied.emit("Code copied")

    # -- helpers ---------------------------------------------------------------------------
    def _end_cursor(self) -> QTextCursor:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        return cursor

    def _insert_html(self, fragment: str) -> None:
        """Append ``fragment`` in a block of its own, keeping its first paragraph's format.

        ``QTextCursor.insertHtml`` merges a fragment's first block into the block it is
        inserted at, dropping that paragraph's margins (a finished answer lost its spacing
        until the chat was reopened); the format is put back from a parse of the fragment.
        """
        cursor = self._new_block_cursor()
        first = cursor.position()
        layout = QTextDocument()
        layout.setHtml(fragment)
        cursor.insertHtml(fragment)
        QTextCursor(self.document().findBlock(first)).setBlockFormat(layout.begin().blockFormat())

    def _new_block_cursor(self) -> QTextCursor:
        """At the end, in an empty block: inserted HTML must not merge into the last line."""
        cursor = self._end_cursor()
        if cursor.block().length() > 1:
            cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        return cursor

    def _show_placeholder(self) -> None:
        self._placeholder = True
        self._contents.clear()
        self._roles.clear()
        self._code.clear()
        self._rendered.clear()
        headline, detail = self.privacy_note
        self.setHtml(
            "<div style='margin-top:40px' align='center'>"
            f"<p style='font-size:15pt'><b>{html.escape(headline)}</b></p>"
            f"<p>{html.escape(detail)}</p></div>")
        self._fit_column(force=True)

    # What the empty chat promises; orchestration_ui.py changes it while escalation is on,
    # so the promise is never broader than the set-up.
    privacy_note: tuple[str, str] = (
        "Ask anything. It stays on this computer.",
        "Answers come from the model you pick above, running locally. "
        "Nothing you type is sent anywhere.")

    def set_privacy_note(self, headline: str, detail: str) -> None:
        self.privacy_note = (headline, detail)
        if self._placeholder:
            self._show_placeholder()

    def _clear_placeholder(self) -> None:
        if self._placeholder:
            self.clear()
            self._fit_column(force=True)
            self._placeholder = False

    def _is_scrolled_to_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 4

    def _scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self._answer_start is None:
            self.appearance_changed.emit()

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt naming
        if event.key() == Qt.Key.Key_Escape:
            event.ignore()  # let the window's Stop shortcut have it
            return
        super().keyPressEvent(event)

