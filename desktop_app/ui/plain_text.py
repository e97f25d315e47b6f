"""Text Scalpel does not control, shown as text.

A model's name comes from its GGUF file, file names from the disk or the Hub, error
messages quote both. QLabel, tooltips and QMessageBox guess whether a string is HTML
(Qt.AutoText), so a model named ``<img src=...>`` would be rendered, not shown. Every
widget that shows such text goes through one of these, which never guess.
"""

from __future__ import annotations

from PySide6 import QtGui
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A QLabel that shows ``text`` (and whatever is set later) exactly as written."""
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    return label


def plain_tip(text: str) -> str:
    """``text`` for a tooltip that shows it as written. Qt reads a tooltip as HTML when it
    looks like HTML (a tag, or "&lt;"); text with neither "<" nor "&" cannot, and is kept
    as it is. Anything else is escaped inside rich text, its line breaks kept."""
    if "<" not in text and "&" not in text:
        return text
    return QtGui.Qt.convertFromPlainText(text)


def question_box(parent: QWidget | None, title: str, text: str,
                 buttons: QMessageBox.StandardButton = QMessageBox.StandardButton.NoButton,
                 default: QMessageBox.StandardButton | None = None) -> QMessageBox:
    """A question like QMessageBox.question's, its text shown as plain text."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, buttons, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    if default is not None:
        box.setDefaultButton(default)
    return box


def ask(parent: QWidget | None, title: str, text: str, buttons: QMessageBox.StandardButton,
        default: QMessageBox.StandardButton) -> QMessageBox.StandardButton:
    """Ask, and return the button chosen (NoButton if the box was closed without one)."""
    box = question_box(parent, title, text, buttons, default)
    box.exec()
    clicked = box.clickedButton()
    return QMessageBox.StandardButton(box.standardButton(clicked) if clicked else 0)
