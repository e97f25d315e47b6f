"""A readable column: the conversation's text at most ``MAX_COLUMN_CHARS`` wide, centred.

At large window sizes the text keeps a readable column (``MAX_COLUMN_CHARS`` average
characters, centred): the root frame's side margins grow with the width, so the
document is only laid out again, never rebuilt. Long lines are
hard to read (typography puts the comfortable measure at 45-90 characters); a chat in a
maximised window on a wide screen ran to 250.
"""

from __future__ import annotations

MAX_COLUMN_CHARS = 80    # the text column's width at most, in average characters
DOCUMENT_MARGIN = 14


class ReadableColumn:
    """A mixin of the conversation view (a QTextBrowser)."""

    def column_width(self) -> int:
        """The widest the text may be, in pixels (``MAX_COLUMN_CHARS`` average characters)."""
        return self.fontMetrics().averageCharWidth() * MAX_COLUMN_CHARS

    def _fit_column(self, *, force: bool = False) -> None:
        # the root frame's side margins include the document margin
        side = max(DOCUMENT_MARGIN, (self.viewport().width() - self.column_width()) // 2)
        if side == self._column_margin and not force:
            return
        self._column_margin = side
        root = self.document().rootFrame()
        frame = root.frameFormat()
        if frame.leftMargin() != side or frame.rightMargin() != side:
            frame.setLeftMargin(side)
            frame.setRightMargin(side)
            root.setFrameFormat(frame)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._fit_column()
