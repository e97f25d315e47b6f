"""What each control does, for screen readers: accessible descriptions in one place.

A screen reader says a control's name ("Pause") and then its description ("Pauses
indexing; it goes on where it stopped"). Most of Scalpel's controls had a name (their
text or ``setAccessibleName``) and nothing more. The descriptions live here, keyed by the
control's object name, accessible name or text, because the windows are built in many
modules by several people: one table is easier to keep whole than a line in each, and
``tests/test_accessibility_gui.py`` walks every window and fails on a control without a
name or a description, so a new control cannot go unnoticed.

``install`` describes each window as it becomes the active one (QGuiApplication's
``focusWindowChanged``: a rare signal, unlike an application-wide event filter, which
would run Python for every event); a control that already has a description or a
tooltip (which screen readers read as one) keeps it.
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication, QWindow
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QAbstractSpinBox,
                               QApplication, QComboBox, QLineEdit, QPlainTextEdit, QSlider,
                               QTabBar, QTextEdit, QWidget)

INTERACTIVE = (QAbstractButton, QLineEdit, QComboBox, QAbstractSpinBox, QAbstractItemView,
               QTextEdit, QPlainTextEdit, QSlider, QTabBar)

DESCRIPTIONS = {
    # any window
    "Close": "Closes this window",
    "Save": "Saves the changes and applies them",
    "Dismiss problem": "Hides this message",
    "Show in folder": "Opens the folder that holds the file in the file manager",
    # main window
    "modelChooser": "The model that answers; choosing another loads it",
    # settings
    "Settings pages": "The pages of the settings; choose one to show it",
    "Delete all chats": "Deletes every saved chat, after asking; this cannot be undone",
    "Local API on": "Lets programs on this computer use the loaded model through an "
                    "OpenAI-compatible API",
    "Tasks that may escalate": "The tasks whose questions may be sent to your "
                               "organization's bigger model",
    # model manager
    "hubSearchButton": "Searches Hugging Face for GGUF models by name",
    "hubRepos": "GGUF repositories found on Hugging Face, most downloaded first",
    "hubFiles": "The GGUF files of the chosen repository, with sizes and quantizations",
    "hubDownloadButton": "Downloads the selected file into the models folder",
    "installedTable": "The models on this computer; double-click one to use it",
    "importModelButton": "Adds a GGUF file from this computer, copied or used where it is",
    "revealModelButton": "Opens the selected model's folder in the file manager",
    "deleteModelButton": "Deletes the selected model's file, after asking",
    "catalogTaskFilter": "Shows only the catalog's models for one task",
    "catalogTable": "Models you can download, with how well each fits this computer",
    # documents
    "Folders": "The folders of this collection",
    "Add folder…": "Adds a folder to this collection; its files are read and indexed",
    "Remove folder": "Takes the selected folder out of this collection; the files stay",
    "Files": "The files of this collection and how far each is indexed",
    "Collections": "Your collections of documents",
    "New collection…": "Makes a new collection of documents",
    "Remove collection": "Removes the selected collection and its index; the files stay",
    "Pause": "Pauses indexing; it goes on where it stopped",
    "Resume": "Goes on indexing where it stopped",
    "Cancel": "Cancels: stops what is running, or closes without changes",
    # preset editor
    "Presets": "Your tasks; choose one to see or edit it",
    "Icon": "The task's icon in the task menu",
    "Move model up": "Moves the selected model up: the first one installed is used",
    "Move model down": "Moves the selected model down the list of preferred models",
    "Use the app's context size": "Uses the context size from Settings, not one of its own",
    "New preset": "Makes a new task",
    "Duplicate preset": "Makes an editable copy of the selected task",
    "Delete preset": "Deletes the selected task, after asking",
    "Save preset": "Saves the changes to this task",
    "Revert changes": "Puts the task back as it was last saved",
    "Close preset editor": "Closes the preset editor",
}
PREFIXES = {  # names that carry a variable part
    "Download ": "Downloads this model; search in your documents needs it",
    "Open the ": "Opens this folder in the file manager",
}


def description_for(widget: QWidget) -> str | None:
    keys = [widget.objectName(), widget.accessibleName()]
    if isinstance(widget, QAbstractButton):
        keys.append(widget.text().replace("&", ""))
    for key in filter(None, keys):
        if key in DESCRIPTIONS:
            return DESCRIPTIONS[key]
        for prefix, description in PREFIXES.items():
            if key.startswith(prefix):
                return description
    return None


def describe(root: QWidget) -> int:
    """Give every interactive control under ``root`` without a description its own;
    returns how many were described."""
    described = 0
    for widget in [root, *root.findChildren(QWidget)]:
        if not isinstance(widget, INTERACTIVE) or widget.accessibleDescription() \
                or widget.toolTip():
            continue
        description = description_for(widget)
        if description:
            widget.setAccessibleDescription(description)
            described += 1
    return described


def install(app: QApplication | None = None) -> None:
    """Describe each window as it becomes active (once per activation; cheap)."""
    app = app or QApplication.instance()
    if app is None or app.property("scalpelDescribes"):
        return
    app.setProperty("scalpelDescribes", True)
    QGuiApplication.instance().focusWindowChanged.connect(_on_focus_window)


def _on_focus_window(window: QWindow | None) -> None:
    # After the event that changed the focus: a window may be closing or half destroyed
    # right now (the focus leaves it), and only the active one is described.
    if window is not None:
        QTimer.singleShot(0, _describe_active_window)


def _describe_active_window() -> None:
    widget = QApplication.activeWindow()
    if widget is not None and shiboken6.isValid(widget):
        describe(widget)
