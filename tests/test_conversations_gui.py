"""Chats that last: saved, listed, searched, regenerated, edited, exported (real model)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QApplication, QComboBox,
                               QLineEdit, QPlainTextEdit, QProgressBar, QTextEdit, QWidget)

from desktop_app.core.chats.transfer import export_json
from gui_helpers import REPLY_TIMEOUT_MS, send, started







def act(qtbot, window, verb, message_id):
    """Click one of a message's action links (Regenerate, ‹, ›, Edit, Delete)."""
    if verb == "regenerate":
        with qtbot.waitSignal(window.bridge.reply_finished, timeout=REPLY_TIMEOUT_MS) as done:
            window.view.action_requested.emit(verb, message_id)
        qtbot.waitUntil(lambda: not window.chat.answering, timeout=60_000)  # rendered in
        return done.args[0]
    window.view.action_requested.emit(verb, message_id)
    return None


def test_chats_are_saved_listed_and_found_by_a_word(qtbot, open_window, services):
    window = started(qtbot, open_window(temperature=0.0, max_tokens=16))
    send(qtbot, window, "Tell me about pelicans.")
    first = window.chat.chat_id
    window.chat_new()
    assert window.chat.chat_id is None and "Ask anything" in window.view.toPlainText()
    send(qtbot, window, "What is a quasar?")
    chats = services.chat_store.list_chats()
    assert [c.title for c in chats] == ["What is a quasar?", "Tell me about pelicans."]
    assert [m.role for m in services.chat_store.path(first)] == ["user", "assistant"]
    assert all(m.status == "complete" for m in services.chat_store.path(first))
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    hits = services.chat_store.search("pelicans")
    assert hits and hits[0].chat_id == first
    window.panel.sidebar.hit_selected.emit(first, hits[0].message_id)
    assert window.chat.chat_id == first and "pelicans" in window.view.toPlainText()


def test_regenerate_keeps_the_earlier_answer_to_flip_back_to(qtbot, open_window, services):
    window = started(qtbot, open_window(temperature=1.0, max_tokens=12))
    first = send(qtbot, window, "Give me a name for a cat.")
    answer_id = window.chat.last_answer_id()
    second = act(qtbot, window, "regenerate", answer_id)
    new_id = window.chat.last_answer_id()
    assert new_id != answer_id and len(window.chat.path) == 2
    assert "2/2" in window.view.toPlainText()
    assert [m.id for m in services.chat_store.siblings(new_id)] == [answer_id, new_id]
    act(qtbot, window, "previous", new_id)
    assert window.chat.last_answer_id() == answer_id and "1/2" in window.view.toPlainText()
    assert window.chat.path[-1].content == first.text
    act(qtbot, window, "next", answer_id)
    assert window.chat.path[-1].content == second.text


def test_editing_a_message_branches_and_the_old_branch_stays(qtbot, open_window, services):
    window = started(qtbot, open_window(temperature=0.0, max_tokens=12))
    send(qtbot, window, "Name a fruit.")
    send(qtbot, window, "Name another.")
    first_user = window.chat.path[0].id
    act(qtbot, window, "edit", first_user)
    assert window.prompt.toPlainText() == "Name a fruit." and window.send_button.text() == "Resend"
    with qtbot.waitSignal(window.bridge.reply_finished, timeout=REPLY_TIMEOUT_MS):
        window.prompt.setPlainText("Name a vegetable.")
        qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.chat.answering, timeout=60_000)  # rendered in
    path = window.chat.path
    assert [m.content for m in path[:1]] == ["Name a vegetable."] and len(path) == 2
    assert window.send_button.text() == "Send"
    act(qtbot, window, "previous", path[0].id)
    assert [m.role for m in window.chat.path] == ["user", "assistant", "user", "assistant"]
    assert window.chat.path[0].content == "Name a fruit."


def test_delete_a_message_after_confirming(qtbot, open_window, services, monkeypatch):
    window = started(qtbot, open_window(temperature=0.0, max_tokens=8))
    send(qtbot, window, "Hello")
    answer = window.chat.last_answer_id()
    monkeypatch.setattr(window.panel, "_confirm", lambda *_: False)
    act(qtbot, window, "delete", answer)
    assert window.chat.last_answer_id() == answer
    monkeypatch.setattr(window.panel, "_confirm", lambda *_: True)
    act(qtbot, window, "delete", answer)
    assert [m.role for m in window.chat.path] == ["user"]


def test_export_markdown_and_json_then_import(qtbot, open_window, services, tmp_path):
    window = started(qtbot, open_window(temperature=0.0, max_tokens=12))
    reply = send(qtbot, window, "Write one line about rivers.")
    chat_id = window.chat.chat_id
    md = window.panel.files.export_chat(chat_id, "md", str(tmp_path / "chat.md"))
    text = md.read_text()
    assert text.startswith("# Write one line about rivers.") and reply.text.strip()[:20] in text
    exported = window.panel.files.export_chat(chat_id, "json", str(tmp_path / "chat.json"))
    imported = window.import_chats(str(exported))
    assert len(imported) == 1 and window.chat.chat_id == imported[0]
    original, copy = export_json(services.chat_store, chat_id), export_json(
        services.chat_store, imported[0])
    assert [m["content"] for m in copy["messages"]] == [m["content"] for m in original["messages"]]
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    assert window.import_chats(str(bad)) == [] and "bad.json" in window.errors.message()


def test_an_interrupted_answer_is_shown_marked_after_a_restart(qtbot, open_window, services):
    store = services.chat_store
    chat = store.create_chat(title="Before the crash")
    question = store.add_message(chat.id, parent_id=None, role="user", content="Count to ten")
    store.add_message(chat.id, parent_id=question.id, role="assistant", content="one two thr",
                      status="partial")
    services.settings.last_chat_id = chat.id
    window = started(qtbot, open_window())
    text = window.view.toPlainText()
    assert "one two thr" in text and "Interrupted" in text
    assert window.chat.chat_id == chat.id


def test_keyboard_copy_last_answer_and_new_chat(qtbot, open_window, services):
    window = started(qtbot, open_window(temperature=0.0, max_tokens=10))
    reply = send(qtbot, window, "Say hi")
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_C,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert QApplication.clipboard().text() == reply.text
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.chat.chat_id is None


def test_a_long_chat_marks_where_old_messages_leave_the_context(qtbot, open_window, services):
    window = started(qtbot, open_window(n_ctx=512, temperature=0.0, max_tokens=40))
    for n in range(8):
        reply = send(qtbot, window, f"Fact {n}: " + "the river is long and slow. " * 6)
        if reply.stats.dropped_messages:
            break
    assert reply.stats.dropped_messages > 0
    assert "no longer fit the model's context" in window.view.toPlainText()
    assert window.status.context.maximum() == 512
    assert reply.stats.prompt_tokens < 512  # it answered from the kept turns


def test_every_control_has_an_accessible_name(open_window):
    window = open_window()
    kinds = (QAbstractButton, QLineEdit, QComboBox, QAbstractItemView, QTextEdit,
             QPlainTextEdit, QProgressBar)
    controls = [w for w in window.findChildren(QWidget) if isinstance(w, kinds)]
    assert len(controls) > 10
    unnamed = [w for w in controls
               if w.isVisibleTo(window) and not (w.accessibleName() or
                                                 getattr(w, "text", lambda: "")())]
    assert unnamed == [], [type(w).__name__ + ":" + w.objectName() for w in unnamed]


def test_the_window_remembers_its_size_splitter_and_chat(qtbot, open_window, services):
    window = open_window()
    window.resize(760, 540)  # inside the offscreen screen, which clamps restored geometry
    window.panel.setSizes([300, 430])
    sizes = window.panel.sizes()
    window.close()
    again = open_window()
    assert (again.size().width(), again.size().height()) == (760, 540)
    assert again.panel.sizes() == sizes


def test_a_dark_system_theme_restyles_the_chat(qtbot, open_window, services):
    from PySide6.QtGui import QColor, QPalette

    store = services.chat_store
    chat = store.create_chat(title="Code")
    question = store.add_message(chat.id, parent_id=None, role="user", content="code please")
    store.add_message(chat.id, parent_id=question.id, role="assistant",
                      content="```python\nprint(1)\n```")
    window = open_window()
    window.panel.open_chat(chat.id)
    assert "#f6f8fa" in window.view.document().toHtml()  # the light code background
    app = QApplication.instance()
    light = app.palette()
    dark = QPalette(light)
    for role, colour in ((QPalette.ColorRole.Window, "#202124"), (QPalette.ColorRole.Base, "#1b1b1d"),
                         (QPalette.ColorRole.Text, "#e8e8e8"),
                         (QPalette.ColorRole.WindowText, "#e8e8e8")):
        dark.setColor(role, QColor(colour))
    try:
        app.setPalette(dark)
        qtbot.waitUntil(lambda: "#272822" in window.view.document().toHtml())
        window.show_error("Something to say")
        assert "#4a1f1f" in window.errors.styleSheet()  # the banner shows in dark colours
    finally:
        app.setPalette(light)


def test_closing_mid_answer_keeps_what_was_written(qtbot, open_window, services):
    window = started(qtbot, open_window(temperature=0.0, max_tokens=600))
    with qtbot.waitSignal(window.bridge.text_ready, timeout=REPLY_TIMEOUT_MS):
        window.prompt.setPlainText("Tell me a long story about a lighthouse.")
        qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    chat_id = window.chat.chat_id
    window.close()
    question, answer = services.chat_store.path(chat_id)
    assert question.content.startswith("Tell me") and answer.status == "cancelled"
    assert answer.content.strip()
