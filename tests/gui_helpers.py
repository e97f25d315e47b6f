"""Driving the window like a person: start it, send a message, wait for the answer."""

from __future__ import annotations

from PySide6.QtCore import Qt

LOAD_TIMEOUT_MS = 120_000     # generous limits, not speed requirements
REPLY_TIMEOUT_MS = 300_000
DOWNLOAD_TIMEOUT_MS = 180_000


def shown_view(qtbot, messages, *, size=(700, 500)):
    """A ConversationView of its own, shown at ``size`` and exposed, with ``messages``."""
    from desktop_app.ui.conversation_view import ConversationView

    view = ConversationView()
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    view.show_messages(messages)
    return view


def started(qtbot, window, initial_model=None):
    """``window.start()`` and wait until its model is loaded."""
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=LOAD_TIMEOUT_MS):
        window.start(initial_model)
    return window


def send(qtbot, window, text):
    """Type ``text``, press Enter, wait until the answer is shown; return its ReplyFinished."""
    with qtbot.waitSignal(window.bridge.reply_finished, timeout=REPLY_TIMEOUT_MS) as done:
        window.prompt.setPlainText(text)
        qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.chat.answering, timeout=60_000)  # rendered in
    return done.args[0]


EDITOR_FIELDS = ("name", "description", "system_prompt", "input_template", "temperature",
                 "max_tokens", "json_schema", "icon")


def set_field(editor, name, value):
    """Type ``value`` into the preset editor's field ``name``, as a person would."""
    from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QLineEdit, QPlainTextEdit

    if name not in EDITOR_FIELDS:
        raise ValueError(f"unknown field {name!r}; known: {', '.join(EDITOR_FIELDS)}")
    if editor.is_read_only():
        raise RuntimeError(f"preset {editor.current_id()!r} is read-only")
    widget = getattr(editor.form, name)
    if isinstance(widget, QLineEdit):
        widget.setText(value)
    elif isinstance(widget, QPlainTextEdit):
        widget.setPlainText(value)
    elif isinstance(widget, QComboBox):
        widget.setCurrentIndex(widget.findData(value))
    elif isinstance(widget, QAbstractSpinBox):
        widget.setValue(value)


def write_user_preset(services, preset_id, **fields):
    """A preset file in the person's presets folder, as they would save one; reloaded."""
    import json

    directory = services.paths.config_dir / "presets"
    directory.mkdir(parents=True, exist_ok=True)
    data = {"id": preset_id, "name": fields.pop("name", preset_id.title()), **fields}
    (directory / f"{preset_id}.json").write_text(json.dumps(data), encoding="utf-8")
    services.presets.reload()


def settle_documents(qtbot, window):
    """Wait until the window's documents side has started its folder watcher: a window
    closed before that fails in its shutdown (core/documents/background.py's
    FolderWatcher.stop joins a thread another thread has not started yet)."""
    import threading

    qtbot.waitUntil(lambda: window.documents.ready, timeout=30_000)
    try:
        qtbot.waitUntil(lambda: any(t.name == "scalpel-documents-watch"
                                    for t in threading.enumerate()), timeout=3_000)
    except AssertionError:
        pass  # documents turned off: there is no watcher
    return window


def open_fake_window(qtbot, services, *, words: int = 3):
    """A window on the contract's fake engine (``window.engine``), started (its model
    'loaded'), shown and focused; the caller closes it."""
    from desktop_app.app import create_window
    from fake_engine import FakeEngine

    engine = FakeEngine(words=words)
    window = create_window(services, engine=engine)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitExposed(window)
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=10_000):
        window.start()
    window.engine = engine
    return window


def send_to_fake(qtbot, window, text):
    """Type ``text``, press Enter, wait for the fake engine's answer to be drawn in."""
    with qtbot.waitSignal(window.bridge.reply_finished, timeout=10_000):
        window.prompt.setPlainText(text)
        qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.chat.answering, timeout=10_000)
