"""The message box: Enter sends, Shift+Enter starts a new line."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QPlainTextEdit, QSizePolicy, QWidget


class PromptInput(QPlainTextEdit):
    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("prompt")
        self.setAccessibleName("Message")
        self.setPlaceholderText("Message the model…  (Enter sends, Shift+Enter adds a line)")
        self.setTabChangesFocus(True)
        line = self.fontMetrics().lineSpacing()
        self.setMinimumHeight(line * 2 + 16)
        self.setMaximumHeight(line * 5 + 16)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt naming
        is_enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        plain = not (event.modifiers() & (Qt.KeyboardModifier.ShiftModifier
                                          | Qt.KeyboardModifier.AltModifier))
        if is_enter and plain:
            self._submit()
            return
        super().keyPressEvent(event)

    def _submit(self) -> None:
        text = self.toPlainText()
        if not text.strip():  # an empty prompt is ignored, not sent
            return
        self.submitted.emit(text)

    def take_text(self) -> str:
        text = self.toPlainText()
        self.clear()
        return text
