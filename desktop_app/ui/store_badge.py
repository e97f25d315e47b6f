"""A status-bar badge for a chats file that was not opened as usual.

The sentence from ``core.chats.opening`` is shown in the error bar as the window
opens; the bar is dismissible and goes when a model loads, but "chats are not
being saved" (or "a damaged file was recovered; the copy is there") must stay in
sight. The badge says it in two words; its tooltip and a click give the sentence.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QLabel, QWidget

from ..core.chats.opening import StoreOpening
from .plain_text import plain_tip

NOT_SAVED_TEXT = "⚠ Chats not saved"
RECOVERED_TEXT = "Chats recovered"


class StoreBadge(QLabel):
    def __init__(self, opening: StoreOpening | None, *, show: Callable[[str], None],
                 parent: QWidget | None = None) -> None:
        problem = opening.problem if opening else ""
        text = NOT_SAVED_TEXT if opening and not opening.saving else RECOVERED_TEXT
        super().__init__(text, parent)
        self.setObjectName("storeBadge")
        self.problem = problem
        self._show = show
        self.setToolTip(plain_tip(problem + "\nClick to show this again."))
        self.setAccessibleName(text)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setVisible(bool(problem) and (not opening.saving or opening.kept_copy is not None))

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt naming
        self._show(self.problem)
