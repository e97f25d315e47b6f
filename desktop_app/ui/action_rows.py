"""Message action rows shown on hover, on keyboard focus, and always for the last answer.

The rows of buttons under each message (``message_buttons.py``) are rendered in a
transparent colour. A row is drawn in its colours only for:
- the message under the mouse pointer (anywhere at its height, margins included), so the
  actions are where a person looks for them and the rest of the chat reads as text;
- the message whose link Tab / Shift+Tab reached, so keyboard users see every action they
  reach (Tab still walks every link of the conversation, hidden rows included: a hidden
  row is still text and links, in the keyboard path and the accessible tree);
- the last answer, always, as ChatGPT and LM Studio do: its Copy and Regenerate, the
  actions most often wanted, never hide. A streaming answer has no row until it is
  finished (the row arrives with its rendering, hidden, and is shown then).

Why recolour rather than re-render or add and remove the row: a hidden row keeps its
cells, padding and words, so it keeps its height and nothing moves when it appears; and a
hover change touches only the two rows involved (their cells' fill and border and their
words' colour, each in one edit block), never the rest of the document. Which message
is where comes from an index of the action tables (a message ends with its row), built
once after the document changes and kept while an answer streams (streamed text only
grows the document's end). Nothing here runs while the pointer stays over one message.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, QPoint, Qt, Slot
from PySide6.QtGui import QBrush, QColor, QCursor, QTextCharFormat, QTextCursor, QTextTable

from .message_buttons import ButtonColours

TRANSPARENT = QColor(0, 0, 0, 0)


@dataclass
class RowIndex:
    """Where each message's action rows are, in document order, and which are drawn."""
    ends: list[int] = field(default_factory=list)     # the end of each message's last row
    owners: list[int] = field(default_factory=list)   # the message each end belongs to
    tables: dict[int, list[int]] = field(default_factory=dict)  # message id -> rows' starts
    shown: set[int] = field(default_factory=set)

    def owner_at(self, position: int) -> int | None:
        """The message a document position belongs to: the first whose row ends after it."""
        i = bisect.bisect_left(self.ends, position)
        return self.owners[i] if i < len(self.owners) else None


def build_index(document, *, before: int | None = None) -> RowIndex:
    """The action tables of ``document`` (top-level tables whose first link is an
    ``action:`` link), ignoring what starts at ``before`` or later (a streaming answer)."""
    index = RowIndex()
    for frame in document.rootFrame().childFrames():
        if not isinstance(frame, QTextTable):
            continue
        start = frame.firstPosition()
        if before is not None and start >= before:
            break
        probe = QTextCursor(document)
        probe.setPosition(frame.cellAt(0, 0).firstPosition() + 1)
        href = probe.charFormat().anchorHref()
        scheme, _, rest = href.partition(":")
        if scheme != "action":
            continue
        message_id = int(rest.rpartition(":")[2])
        index.tables.setdefault(message_id, []).append(start)
        if index.owners and index.owners[-1] == message_id:
            index.ends[-1] = frame.lastPosition()
        else:
            index.owners.append(message_id)
            index.ends.append(frame.lastPosition())
        if probe.charFormat().foreground().color().alpha():
            index.shown.add(message_id)
    return index


def paint_rows(document, starts: list[int], colours: ButtonColours | None) -> None:
    """Draw the rows at ``starts`` in ``colours``, or transparent (None): the cells' fill
    and border and the words' colour; sizes are untouched."""
    cursor = QTextCursor(document)
    cursor.beginEditBlock()
    for start in starts:
        cursor.setPosition(start)
        table = cursor.currentTable()
        if table is None:
            continue
        for column in range(table.columns()):
            cell = table.cellAt(0, column)
            cell_format = cell.format().toTableCellFormat()
            button = cell_format.leftBorder() > 0   # the ‹ 1/2 › counter has no border
            if button:
                cell_format.setBackground(QBrush(colours.background if colours else TRANSPARENT))
                cell_format.setBorderBrush(QBrush(colours.border if colours else TRANSPARENT))
                cell.setFormat(cell_format)
            words = QTextCharFormat()
            colour = (colours.text if button else colours.muted) if colours else TRANSPARENT
            words.setForeground(QBrush(colour))
            cursor.setPosition(cell.firstPosition())
            cursor.setPosition(cell.lastPosition(), QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(words)
    cursor.endEditBlock()


class ActionRows:
    """A mixin of the conversation view: which messages' rows are drawn, kept in step
    with the mouse, the keyboard and the document."""

    def _init_rows(self) -> None:
        self._row_index: RowIndex | None = None
        self._hovered: int | None = None      # the message under the pointer
        self._keyboard: int | None = None     # the message whose link Tab reached
        self._roles: dict[int, str] = {}      # message id -> "user" / "assistant"
        self._painting_rows = False
        self.document().contentsChange.connect(self._rows_changed)
        self.selectionChanged.connect(self._keyboard_moved)
        self.verticalScrollBar().valueChanged.connect(self._rehover)

    # -- what is where -------------------------------------------------------------
    def _rows(self) -> RowIndex:
        if self._row_index is None:
            self._row_index = build_index(self.document(), before=self._answer_start)
        return self._row_index

    @Slot(int, int, int)
    def _rows_changed(self, position: int, removed: int, added: int) -> None:
        if self._painting_rows:
            return
        if self._answer_start is not None and position >= self._answer_start:
            return  # the streaming answer: the rows above it have not moved
        self._row_index = None

    def message_at(self, point: QPoint) -> int | None:
        """The message at ``point`` (viewport coordinates); None over a streaming answer."""
        if self._placeholder:
            return None
        position = self.cursorForPosition(point).position()
        if self._answer_start is not None and position >= self._answer_start:
            return None
        return self._rows().owner_at(position)

    def rows_shown(self) -> set[int]:
        """The messages whose action rows are drawn now."""
        return set(self._rows().shown)

    # -- what is wanted ----------------------------------------------------------------
    def hover_at(self, point: QPoint | None) -> None:
        """The pointer is at ``point`` in the viewport (None: it left)."""
        hovered = self.message_at(point) if point is not None else None
        if hovered != self._hovered:
            self._hovered = hovered
            self.sync_rows()

    def sync_rows(self) -> None:
        """Draw the wanted rows and hide the others that are drawn (usually one of each)."""
        index = self._rows()
        last_answer = next((m for m in reversed(index.owners)
                            if self._roles.get(m) == "assistant"), None)
        wanted = {m for m in (self._hovered, self._keyboard, last_answer)
                  if m is not None and m in index.tables}
        changes = [(m, False) for m in index.shown - wanted]
        changes += [(m, True) for m in wanted - index.shown]
        if not changes:
            return
        colours = ButtonColours.of(self.palette())
        self._painting_rows = True
        try:
            for message_id, shown in changes:
                paint_rows(self.document(), index.tables[message_id], colours if shown else None)
                (index.shown.add if shown else index.shown.discard)(message_id)
        finally:
            self._painting_rows = False

    @Slot()
    def _keyboard_moved(self) -> None:
        cursor = self.textCursor()
        message = None
        if cursor.hasSelection():
            probe = QTextCursor(self.document())
            probe.setPosition(cursor.selectionStart() + 1)
            if probe.charFormat().isAnchor() and not self._placeholder:
                message = self._rows().owner_at(cursor.selectionStart())
        if message != self._keyboard:
            self._keyboard = message
            self.sync_rows()

    @Slot()
    def _rehover(self) -> None:
        """The chat scrolled under a still pointer: another message may be under it."""
        if self.viewport().underMouse():
            self.hover_at(self.viewport().mapFromGlobal(QCursor.pos()))

    # -- events ------------------------------------------------------------------------
    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().mouseMoveEvent(event)
        self.hover_at(event.position().toPoint())

    def viewportEvent(self, event) -> bool:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.Leave:
            self.hover_at(None)
        return super().viewportEvent(event)

    def focusNextPrevChild(self, forward: bool) -> bool:  # noqa: N802 - Qt naming
        moved = super().focusNextPrevChild(forward)   # Tab to the next link (no signal)
        self._keyboard_moved()
        return moved

    def focusOutEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().focusOutEvent(event)
        if event.reason() != Qt.FocusReason.PopupFocusReason and self._keyboard is not None:
            self._keyboard = None  # a menu opened by the action keeps its row
            self.sync_rows()

    def focusInEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().focusInEvent(event)
        self._keyboard_moved()
