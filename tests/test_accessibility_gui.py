"""Accessibility of the window and its dialogs: every interactive control tells a screen
reader what it is (a name) and what it does (a description), and the keyboard reaches the
main window's parts in the order they are on screen.

The walk asks Qt's own accessibility layer (what a screen reader hears), so a button's
text or a form row's label counts as its name, and a tooltip as its description. The
engine is the contract's fake: this is about widgets, not answers."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QAbstractSpinBox,
                               QApplication, QComboBox, QHeaderView, QLineEdit, QPlainTextEdit,
                               QSlider, QTabBar, QTextEdit, QWidget)

from fake_engine import FakeEngine
from gui_helpers import settle_documents

INTERACTIVE = (QAbstractButton, QLineEdit, QComboBox, QAbstractSpinBox, QAbstractItemView,
               QTextEdit, QPlainTextEdit, QSlider, QTabBar)


def _inside(widget: QWidget, kinds: tuple) -> bool:
    parent = widget.parent()
    while parent is not None:
        if isinstance(parent, kinds):
            return True
        parent = parent.parent()
    return False


def _is_part_of_another_control(widget: QWidget) -> bool:
    """Parts Qt builds inside a control and names through it: a combo box's popup and line
    edit, a spin box's line edit, a line edit's clear button, a table's corner button,
    a tab bar's scroll arrows."""
    if _inside(widget, (QComboBox, QAbstractSpinBox)):
        return True
    parent = widget.parent()
    if isinstance(parent, (QLineEdit, QTabBar)):
        return True
    if isinstance(widget, QHeaderView):
        return True  # a table's header: the table is the control, its columns are read
    name = widget.objectName()
    return name.startswith("qt_") or (isinstance(parent, QAbstractItemView)
                                      and isinstance(widget, QAbstractButton))


def unnamed_controls(root: QWidget) -> list[str]:
    """Every interactive control under ``root`` without an accessible name or description."""
    problems = []
    for widget in [root, *root.findChildren(QWidget)]:
        if not isinstance(widget, INTERACTIVE) or _is_part_of_another_control(widget):
            continue
        interface = QAccessible.queryAccessibleInterface(widget)
        name = interface.text(QAccessible.Text.Name).strip() if interface else ""
        description = interface.text(QAccessible.Text.Description).strip() if interface else ""
        where = (f"{type(widget).__name__} {widget.objectName()!r} "
                 f"({name or getattr(widget, 'text', lambda: '')() or 'no text'}) "
                 f"in {type(widget.window()).__name__}")
        if not name:
            problems.append(f"no name: {where}")
        elif not description:
            problems.append(f"no description: {where}")
    return problems


@pytest.fixture
def window(qtbot, services):
    from desktop_app.app import create_window

    window = create_window(services, engine=FakeEngine(words=3))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=10_000):
        window.start()
    settle_documents(qtbot, window)
    yield window
    window.close()


def test_the_walk_finds_an_unnamed_control(qtbot):
    """The check itself: a bare line edit and an icon-only button are caught."""
    from PySide6.QtWidgets import QPushButton, QVBoxLayout

    box = QWidget()
    qtbot.addWidget(box)
    layout = QVBoxLayout(box)
    layout.addWidget(QLineEdit())
    layout.addWidget(QPushButton())
    named = QPushButton("Go")
    named.setToolTip("Goes")
    layout.addWidget(named)
    assert len(unnamed_controls(box)) == 2


def test_every_control_of_the_main_window_is_named_and_described(window):
    assert unnamed_controls(window) == []


def test_every_control_of_the_dialogs_is_named_and_described(qtbot, window):
    """Settings, model manager, documents, preset editor, model details: opened as the
    window opens them, each checked once it is the active window."""
    problems = []

    def check(dialog) -> None:
        qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=5_000)
        qtbot.wait(20)
        problems.extend(unnamed_controls(dialog))
        dialog.close()

    window.settings_menu.open("General")
    check(window.settings_menu.dialog)
    check(window.open_model_manager())
    qtbot.waitUntil(lambda: window.documents.ready, timeout=30_000)
    check(window.documents.open_documents())
    check(window.open_preset_editor())
    details = window.open_model_details()
    details.activateWindow()
    check(details)
    assert problems == []


def test_tab_goes_through_the_window_in_screen_order(qtbot, window):
    """Task, model, search, New chat, the chat list, the conversation, the message box."""
    panel = window.panel
    expected = [window.tasks.combo, window.model_combo, panel.sidebar.search_box,
                panel.sidebar.new_button, panel.sidebar.chats, window.view, window.prompt]
    for first, second in zip(expected, expected[1:]):
        assert _next_tab_stop(first) is second, (first, _next_tab_stop(first))
    window.tasks.combo.setFocus()
    seen = [QApplication.focusWidget()]
    for _ in range(12):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        seen.append(QApplication.focusWidget())
    reached = [w for w in expected if w in seen]
    assert reached == [w for w in expected if w.isVisible() and w.isEnabled()]


def _next_tab_stop(widget: QWidget) -> QWidget:
    """The widget Tab moves to from ``widget`` (hidden ones and those Tab skips passed)."""
    candidate = widget.nextInFocusChain()
    while candidate is not widget:
        if candidate.isVisible() and candidate.isEnabled() \
                and candidate.focusPolicy().value & Qt.FocusPolicy.TabFocus.value \
                and candidate.focusProxy() is None:
            return candidate
        candidate = candidate.nextInFocusChain()
    return widget
