"""The window as a face of the chat session: what a new user met when the conversation's
state was spread over five objects, each now impossible. The engine is the contract's fake
(wiring only: tests/test_gui.py and others stream the real model)."""

from __future__ import annotations


import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from gui_helpers import open_fake_window, send_to_fake, write_user_preset


@pytest.fixture
def fake_window(qtbot, services):
    """A window on the fake engine, started (its model 'loaded'), focused."""
    window = open_fake_window(qtbot, services)
    yield window
    window.close()


send = send_to_fake


def focused(window) -> bool:
    QApplication.processEvents()
    return window.prompt.hasFocus() or QApplication.focusWidget() is window.prompt


def test_typing_at_start_after_new_chat_and_after_a_task_switch_types_a_question(
        qtbot, fake_window):
    assert focused(fake_window)
    fake_window.panel.sidebar.focus_search()
    qtbot.keyClick(fake_window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert focused(fake_window)
    fake_window.panel.sidebar.focus_search()
    fake_window.tasks.actions["code"].trigger()
    assert focused(fake_window)


def test_after_an_edit_is_sent_the_message_box_names_the_task_again(qtbot, fake_window):
    normal = fake_window.prompt.placeholderText()
    assert normal.startswith(fake_window.chat.preset.name)
    send(qtbot, fake_window, "teh question")
    question = fake_window.chat.path[0]
    fake_window.chat.edit_requested.emit(question.id, question.content)
    assert fake_window.prompt.placeholderText().startswith("Editing a message")
    send(qtbot, fake_window, "the question")
    assert fake_window.prompt.placeholderText() == normal
    assert fake_window.send_button.text() == "Send"


def test_regenerating_an_earlier_answer_shows_the_new_branch_while_it_streams(
        qtbot, fake_window):
    send(qtbot, fake_window, "first")
    send(qtbot, fake_window, "second")
    first_answer = fake_window.chat.path[1]
    fake_window.engine.gate.clear()  # hold the new version before its first word
    fake_window.chat.regenerate(first_answer.id)
    qtbot.waitUntil(lambda: "2/2" in fake_window.view.toPlainText(), timeout=5_000)
    shown = fake_window.view.toPlainText()
    assert "A new version of this answer" in shown and "second" not in shown
    fake_window.engine.gate.set()
    qtbot.waitUntil(lambda: not fake_window.chat.answering, timeout=10_000)
    assert "2/2" in fake_window.view.toPlainText()
    fake_window.chat.show_alternative(fake_window.chat.path[1].id, -1)
    assert "second" in fake_window.view.toPlainText()  # the old branch, one click away


def test_the_task_box_and_the_message_box_always_name_the_same_task(qtbot, fake_window):
    fake_window.tasks.actions["json"].trigger()
    fake_window.refresh_presets()  # as after the preset editor saved
    task = fake_window.tasks.combo.currentText()
    assert "Extract to JSON" in task
    assert fake_window.prompt.placeholderText().startswith("Extract to JSON")
    send(qtbot, fake_window, "Ann is 3")
    fake_window.chat_new()
    fake_window.tasks.actions["general"].trigger()
    assert "General chat" in fake_window.tasks.combo.currentText()
    assert fake_window.prompt.placeholderText().startswith("General chat")
    chat_with_json = fake_window.bridge.session.store.list_chats()[0].id
    fake_window.panel.open_chat(chat_with_json)  # the chat brings its task back
    assert "Extract to JSON" in fake_window.tasks.combo.currentText()
    assert fake_window.prompt.placeholderText().startswith("Extract to JSON")


def test_a_task_without_a_description_reads_cleanly_in_the_message_box(qtbot, services,
                                                                        fake_window):
    write_user_preset(services, "terse", name="Terse")   # no description, as people save
    fake_window.refresh_presets()
    fake_window.tasks.actions["terse"].trigger()
    assert fake_window.prompt.placeholderText() == "Terse (Enter sends, Shift+Enter adds a line)"


def test_the_status_line_shows_the_open_chats_figures_only(qtbot, fake_window):
    send(qtbot, fake_window, "with figures")
    status = fake_window.status
    assert status.context.format().startswith("context ") and "–" not in status.context.format()
    answered = fake_window.chat.chat_id
    fake_window.chat_new()
    assert status.context.format() == "context –" and status.ttft.text() == ""
    fake_window.panel.open_chat(answered)
    assert "–" not in status.context.format() and status.ttft.text()
    fake_window.engine.gate.clear()
    fake_window.prompt.setPlainText("again")
    qtbot.keyClick(fake_window.prompt, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: status.speed.text() == "answering…", timeout=5_000)
    assert status.ttft.text() == ""  # not the last answer's first-token time
    fake_window.engine.gate.set()
    qtbot.waitUntil(lambda: not fake_window.chat.answering, timeout=10_000)


def test_a_model_chosen_by_hand_stays_until_a_task_with_another_model(
        qtbot, fake_window, services, tmp_path):
    mine = tmp_path / "my-own.gguf"
    mine.write_bytes(b"GGUF")
    tasks_model = tmp_path / "task-model.gguf"
    tasks_model.write_bytes(b"GGUF")
    write_user_preset(services, "tiny-code", name="Tiny code", preferred_models=[str(tasks_model)])
    services.settings.remember_model(str(tasks_model))
    services.registry.opened_paths = list(services.settings.recent_models)
    fake_window.refresh_presets()
    with qtbot.waitSignal(fake_window.bridge.model_loaded, timeout=10_000):
        fake_window.open_model_file(str(mine))
    assert fake_window.chat.model.path == str(mine.resolve())
    qtbot.keyClick(fake_window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    current = fake_window.chat.preset.id
    fake_window.select_preset(current)  # the same task's shortcut again
    QApplication.processEvents()
    assert fake_window.bridge.session.wait_idle(5)
    QApplication.processEvents()
    assert fake_window.chat.model.path == str(mine.resolve())
    assert not fake_window.notice.isVisible()
    with qtbot.waitSignal(fake_window.bridge.model_loaded, timeout=10_000):
        fake_window.tasks.actions["tiny-code"].trigger()
    assert fake_window.chat.model.path == str(tasks_model.resolve())
    assert fake_window.notice.isVisible()
    assert "Tiny code answers with" in fake_window.notice.message()
    assert "my-own" in fake_window.notice.message()


def block_margins(view):
    margins, block = [], view.document().begin()
    while block.isValid():
        if block.text().strip():
            fmt = block.blockFormat()
            margins.append((block.text()[:20], fmt.topMargin(), fmt.bottomMargin()))
        block = block.next()
    return margins


def test_a_finished_answer_keeps_its_spacing_as_if_the_chat_were_reopened(qtbot, fake_window):
    send(qtbot, fake_window, "one")
    send(qtbot, fake_window, "two")
    streamed = block_margins(fake_window.view)
    fake_window.panel.open_chat(fake_window.chat.chat_id)  # drawn afresh, in one setHtml
    reopened = block_margins(fake_window.view)
    assert streamed == reopened
    headings = [m for m in reopened if m[0] == fake_window.chat.model.name[:20]]
    assert headings and all(top == 16 for _text, top, _bottom in headings)


def test_each_face_adds_its_own_place_to_act_and_the_core_names_none(qtbot, fake_window):
    from desktop_app.cli.dispatch import for_terminal
    from desktop_app.core.errors import InsufficientMemoryError

    error = InsufficientMemoryError(model_name="Big", needed_bytes=2 << 30,
                                    available_bytes=1 << 30, model_bytes=1 << 30,
                                    kv_cache_bytes=1 << 29, overhead_bytes=1 << 29, n_ctx=8192,
                                    suggested_n_ctx=2048)
    assert "▸" not in str(error) and "--ctx" not in str(error)
    assert for_terminal(error).endswith("(scalpel chat --ctx 2048)")

    def refuse(*_args, **_kwargs):
        raise error

    fake_window.engine.load = refuse
    with qtbot.waitSignal(fake_window.bridge.model_load_failed, timeout=5_000):
        fake_window.bridge.session.load_model(fake_window.chat.model.path,
                                              fake_window._services.load_options())
    shown = fake_window.errors.message()
    assert "Set the context to 2,048 tokens or less" in shown
    assert "Task ▸ Edit presets ▸ Context size" in shown


def test_a_problem_said_at_start_stays_when_the_model_loads_a_failed_load_goes(
        qtbot, fake_window):
    fake_window.show_error("Chats are not being saved: the disk is full.")
    with qtbot.waitSignal(fake_window.bridge.model_loaded, timeout=5_000):
        fake_window.bridge.session.load_model(fake_window.chat.model.path,
                                              fake_window._services.load_options(), "Again")
    assert fake_window.errors.isVisible()
    assert "not being saved" in fake_window.errors.message()

    with qtbot.waitSignal(fake_window.bridge.model_load_failed, timeout=5_000):
        fake_window.bridge.session.load_model("/nowhere/missing.gguf",
                                              fake_window._services.load_options(), "Missing")
    assert "missing.gguf" in fake_window.errors.message()
    with qtbot.waitSignal(fake_window.bridge.model_loaded, timeout=5_000):
        fake_window.bridge.session.load_model(fake_window.chat.model.path,
                                              fake_window._services.load_options(), "Again")
    assert not fake_window.errors.isVisible()  # the failed load's message was stale
