"""A message bar above the chat whose colours follow the system's light or dark theme."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QWidget

# (background, border, text) for light and dark themes
COLOURS = {
    "error": (("#fdecea", "#f5c2c0", "#8a1c1c"), ("#4a1f1f", "#7a3030", "#ffd7d5")),
    "notice": (("#e8f1fd", "#b6d0f5", "#17365d"), ("#1d2f4a", "#35527d", "#d6e6ff")),
}


class ThemedBar(QFrame):
    """A rounded bar with a selectable, wrapping label; subclasses add their buttons."""

    def __init__(self, kind: str, object_name: str, accessible_name: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._kind = kind
        self.setObjectName(object_name)
        self.setAccessibleName(accessible_name)
        self._apply_colours()
        self._label = QLabel(self)
        self._label.setTextFormat(Qt.TextFormat.PlainText)  # messages quote names and files
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(10, 6, 6, 6)
        self._layout.addWidget(self._label, 1)
        self.hide()

    def _apply_colours(self) -> None:
        # The application's palette, not this frame's: its style sheet colours that one.
        dark = QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128
        background, border, text = COLOURS[self._kind][dark]
        name = self.objectName()
        sheet = (f"#{name} {{ background: {background}; border: 1px solid {border}; "
                 f"border-radius: 6px; }} #{name} QLabel {{ color: {text}; }}")
        if sheet != self.styleSheet():
            self.setStyleSheet(sheet)

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._apply_colours()

    def _show_text(self, text: str) -> None:
        self._apply_colours()
        self._label.setText(text)
        self.show()

    def message(self) -> str:
        return "" if self.isHidden() else self._label.text()
