"""The conversation's message actions, drawn as buttons that stay links.

Message actions (Copy, Edit, Regenerate, Answer as…, Ask the bigger model, Delete,
‹ n/m ›) are drawn as buttons inside the document: each one a padded, bordered table cell
holding its link, and a click anywhere in the cell counts (``_action_at``), so the
target is the whole button, not a small underlined word. They stay links in the
document, rather than a toolbar widget laid over the message under the mouse, because:
- streaming stays as it is: a finished answer's buttons arrive with its rendering, in the
  same slices; nothing is positioned, re-laid out or re-rendered while text streams in,
  and no widget laid over the text has to follow the mouse or the scroll position;
- the keyboard reaches every one of them the way a browser does: Tab / Shift+Tab move
  from link to link inside the conversation (the focused one gets a ring in the highlight
  colour, ``paintEvent``, and the view scrolls to it), Enter activates it, and a menu it
  opens (Answer as…) opens beside it (``action_point``); a hover-only toolbar would need a
  second, keyboard-only way to the same actions;
- screen readers read them as links with their names, in reading order after the
  message they act on.
A message's row is drawn only while it is wanted (``action_rows.py``): for the message
under the mouse, for the message whose link Tab reached, and always for the last answer;
elsewhere the same row is there in a transparent colour, so the conversation reads as text
and nothing moves when a row appears. The fill and the border come from the palette,
faint, so the conversation's text outweighs them.
Ctrl+Shift+C still copies the last answer.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtGui import QColor, QCursor, QPainter, QPalette, QPen, QTextCursor


@dataclass(frozen=True)
class ButtonColours:
    """A shown row's colours, from the palette (a hidden row's are all transparent)."""
    text: QColor
    muted: QColor        # the ‹ 1/2 › counter
    background: QColor
    border: QColor

    @classmethod
    def of(cls, palette: QPalette) -> "ButtonColours":
        base = palette.color(QPalette.ColorRole.Base)
        return cls(text=palette.color(QPalette.ColorRole.ButtonText),
                   muted=palette.color(QPalette.ColorRole.PlaceholderText),
                   background=_mix(palette.color(QPalette.ColorRole.Button), base, 0.5),
                   border=_mix(palette.color(QPalette.ColorRole.Mid), base, 0.4))


def buttons_html(verbs: list, message_id: int, palette: QPalette, *, counter: str = "",
                 shown: bool = True) -> str:
    """A row of button-like links: padded, bordered cells; ``verbs`` holds (verb, label,
    tooltip) and ``None`` where ``counter`` goes (‹ 1/2 ›). A row not ``shown`` has the
    same cells, borders and words, in a transparent colour (the same height)."""
    colours = ButtonColours.of(palette)
    muted, text, background, border = (
        (c.name() if shown else "transparent") for c in
        (colours.muted, colours.text, colours.background, colours.border))
    cells = []
    for verb in verbs:
        if verb is None:
            cells.append(f"<td style='color:{muted}; padding:3px 6px'>"
                         f"{html.escape(counter)}</td>")
            continue
        name, label, tip = verb
        cells.append(
            f"<td style='background-color:{background}; border:1px solid {border}; "
            f"padding:3px 8px'><a href='action:{name}:{message_id}' title='{html.escape(tip)}' "
            f"style='color:{text}; text-decoration:none'>{html.escape(label)}</a></td>")
    return ("<table cellspacing='6' cellpadding='0' style='margin-top:0px; "
            f"margin-bottom:8px'><tr>{''.join(cells)}</tr></table>")


class MessageButtons:
    """A mixin of the conversation view (a QTextBrowser): the whole cell of a button is
    its target, a focus ring on the link Tab reached, menus opened beside it."""

    def _init_buttons(self) -> None:
        self.setMouseTracking(True)
        self._cursor_before: Qt.CursorShape | None = None  # while over a button's padding
        self.selectionChanged.connect(lambda: self.hasFocus() and self.viewport().update())

    def _action_at(self, position: QPoint) -> str | None:
        """The action link whose button (its whole table cell) is at ``position``."""
        href = self.anchorAt(position)
        if href:
            return href if href.startswith("action:") else None
        cursor = self.cursorForPosition(position)
        table = cursor.currentTable()
        if table is None:
            return None
        cell = table.cellAt(cursor)
        if not cell.isValid():
            return None
        rect = self.cursorRect(cell.firstCursorPosition()).united(
            self.cursorRect(cell.lastCursorPosition()))
        if not rect.adjusted(-12, -8, 12, 8).contains(position):
            return None  # beside the row of buttons, not on one
        block = cell.firstCursorPosition().block()
        end = cell.lastCursorPosition().position()
        while block.isValid() and block.position() <= end:
            iterator = block.begin()
            while not iterator.atEnd():
                href = iterator.fragment().charFormat().anchorHref()
                if href.startswith("action:"):
                    return href
                iterator += 1
            block = block.next()
        return None

    def focused_link_rect(self):
        """Where the link Tab moved to is (viewport coordinates), or None."""
        cursor = self.textCursor()
        if not self.hasFocus() or not cursor.hasSelection():
            return None
        probe = QTextCursor(self.document())
        probe.setPosition(cursor.selectionStart() + 1)
        if not probe.charFormat().isAnchor():
            return None
        start, end = QTextCursor(cursor), QTextCursor(cursor)
        start.setPosition(cursor.selectionStart())
        end.setPosition(cursor.selectionEnd())
        return self.cursorRect(start).united(self.cursorRect(end)).adjusted(-7, -4, 7, 4)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().paintEvent(event)
        rect = self.focused_link_rect()
        if rect is not None:  # a clear focus ring, not only Qt's dotted line
            painter = QPainter(self.viewport())
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            pen = QPen(self.palette().color(QPalette.ColorRole.Highlight), 2)
            painter.setPen(pen)
            painter.drawRoundedRect(rect, 3, 3)
            painter.end()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().mouseMoveEvent(event)
        position = event.position().toPoint()
        if self.anchorAt(position):
            return  # the browser's own pointing hand
        on_button = self._action_at(position) is not None
        if on_button and self._cursor_before is None:
            self._cursor_before = self.viewport().cursor().shape()
            self.viewport().setCursor(Qt.CursorShape.PointingHandCursor)
        elif not on_button and self._cursor_before is not None:
            self.viewport().setCursor(self._cursor_before)
            self._cursor_before = None

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt naming
        position = event.position().toPoint()
        href = None
        if event.button() == Qt.MouseButton.LeftButton and not self.anchorAt(position):
            href = self._action_at(position)  # the button's padding, around its word
        super().mouseReleaseEvent(event)
        if href and not self.textCursor().hasSelection():
            self._on_link(QUrl(href))

    def action_point(self) -> QPoint:
        """Where a menu opened by an action goes: under the button focused with the
        keyboard, else at the mouse."""
        rect = self.focused_link_rect()
        if rect is not None:
            return self.viewport().mapToGlobal(rect.bottomLeft())
        return QCursor.pos()


def _mix(first: QColor, second: QColor, share: float) -> QColor:
    """``share`` of ``first`` blended into ``second``."""
    return QColor(*(round(a * share + b * (1 - share)) for a, b in
                    ((first.red(), second.red()), (first.green(), second.green()),
                     (first.blue(), second.blue()))))
