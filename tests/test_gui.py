"""The window, driven like a person would, with the real engine and model."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer

from desktop_app.core.models import STARTER_ID

LOAD_TIMEOUT_MS = 120_000
REPLY_TIMEOUT_MS = 300_000


@pytest.fixture
def window(open_window):
    return open_window(temperature=0.0, max_tokens=120)


def load_starter(qtbot, window, services):
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=LOAD_TIMEOUT_MS):
        window.load_model(services.registry.resolve(STARTER_ID))
        assert window.loading and not window.model_combo.isEnabled()
        assert window.send_button.isEnabled()  # a message sent now waits for the model
    assert not window.loading and window.model_combo.isEnabled()
    assert window.send_button.isEnabled()


def type_and_press_enter(qtbot, window, text):
    window.prompt.setFocus()
    qtbot.keyClicks(window.prompt, text)
    qtbot.keyClick(window.prompt, Qt.Key.Key_Return)


def test_enter_sends_and_the_answer_streams_in_while_the_loop_keeps_turning(
        qtbot, window, services):
    load_starter(qtbot, window, services)
    assert window.model_combo.currentData() == str(services.registry.resolve(STARTER_ID).path)
    batches: list[int] = []
    window.bridge.text_ready.connect(lambda _: batches.append(window.view.streamed_text_length()))
    ticks = []
    heartbeat = QTimer()
    heartbeat.setInterval(10)
    heartbeat.timeout.connect(lambda: ticks.append(window.chat.answering))
    heartbeat.start()
    with qtbot.waitSignal(window.bridge.reply_finished, timeout=REPLY_TIMEOUT_MS) as done:
        type_and_press_enter(qtbot, window, "Write a short poem about the sea.")
        assert window.prompt.toPlainText() == ""  # sent, and the box is ready for more
        assert window.send_button.text() == "Stop"
    qtbot.waitUntil(lambda: not window.chat.answering, timeout=60_000)  # rendered in
    heartbeat.stop()
    finished = done.args[0]
    assert len(batches) >= 2, "the answer should arrive in several batches, not at once"
    assert batches == sorted(batches) and batches[0] < batches[-1]
    assert ticks.count(True) >= 3, "the GUI event loop stalled while the model generated"
    assert finished.text.strip()
    words = finished.text.split()[:3]
    assert all(word.strip("*_#`") in window.view.toPlainText() for word in words)
    assert [m["role"] for m in window.chat.history] == ["user", "assistant"]
    assert window.send_button.text() == "Send" and window.send_button.isEnabled()
    assert window.model_combo.isEnabled() and window.open_action.isEnabled()
    assert "tok/s" in window.status.speed.text()
    assert "context" in window.status.context.text()


@pytest.mark.parametrize("task", ["auto", "general"])
def test_a_question_typed_while_the_model_loads_streams_under_the_models_name(
        qtbot, open_window, services, task):
    """A person types at once: the answer waits for the model, and its heading names the
    model while it streams, not a placeholder swapped for the name at the end (Auto names
    it with its route; a task chosen by hand when the model is loaded)."""
    window = open_window(temperature=0.0, max_tokens=40, last_preset=task)
    window.start()
    assert window.loading
    streaming: list[str] = []
    window.bridge.text_ready.connect(lambda _: streaming.append(window.view.toPlainText()))
    with qtbot.waitSignal(window.bridge.reply_finished, timeout=REPLY_TIMEOUT_MS):
        type_and_press_enter(qtbot, window, "Name a colour.")
        assert window.loading  # sent before the model was there
    qtbot.waitUntil(lambda: not window.chat.answering, timeout=60_000)
    name = services.registry.resolve(STARTER_ID).name
    heading = f"{name}\nGeneral chat · {name} · " if task == "auto" else f"{name}\n"
    assert streaming and all(heading in text for text in streaming)
    assert "Assistant" not in streaming[0]
    assert window.view.toPlainText().count(name) == (2 if task == "auto" else 1)


@pytest.mark.parametrize("how", ["stop button", "escape key"])
def test_stop_ends_the_answer_and_marks_it(qtbot, window, services, how):
    services.settings.max_tokens = 800
    load_starter(qtbot, window, services)
    with qtbot.waitSignal(window.bridge.text_ready, timeout=REPLY_TIMEOUT_MS):
        type_and_press_enter(qtbot, window, "Tell me a very long story about a dragon.")
    with qtbot.waitSignal(window.bridge.reply_finished, timeout=REPLY_TIMEOUT_MS) as done:
        if how == "stop button":
            qtbot.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
        else:
            qtbot.keyClick(window.prompt, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.chat.answering, timeout=60_000)  # rendered in
    assert done.args[0].reason == "cancelled"
    assert done.args[0].stats.completion_tokens < 800
    assert "Stopped." in window.view.toPlainText()
    assert window.send_button.text() == "Send"


def test_empty_prompt_is_ignored(qtbot, window, services):
    load_starter(qtbot, window, services)
    type_and_press_enter(qtbot, window, "   ")
    assert not window.chat.answering and window.chat.history == []
    assert window.prompt.toPlainText() == "   "


def test_shift_enter_adds_a_line_instead_of_sending(qtbot, window, services):
    load_starter(qtbot, window, services)
    qtbot.keyClicks(window.prompt, "first line")
    qtbot.keyClick(window.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(window.prompt, "second")
    assert window.prompt.toPlainText() == "first line\nsecond"
    assert not window.chat.answering


def test_a_bad_model_file_shows_the_reason_and_keeps_the_model(qtbot, window, services, tmp_path):
    load_starter(qtbot, window, services)
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"GGUF\x03\x00\x00\x00")  # a header that stops short
    with qtbot.waitSignal(window.bridge.model_load_failed, timeout=LOAD_TIMEOUT_MS):
        window.open_model_file(str(bogus))
    assert window.errors.isVisible() and "truncated" in window.errors.message()
    assert window.chat.model.path == str(services.registry.resolve(STARTER_ID).path)
    assert "still loaded" in window.status.model.text()
    with qtbot.waitSignal(window.bridge.reply_finished, timeout=REPLY_TIMEOUT_MS):
        type_and_press_enter(qtbot, window, "Say hi")
    qtbot.waitUntil(lambda: not window.chat.answering, timeout=60_000)  # rendered in


def test_a_missing_model_file_is_reported_in_the_banner(qtbot, window, services, tmp_path):
    window.open_model_file(str(tmp_path / "nowhere.gguf"))
    assert "model file not found" in window.errors.message()


def test_too_long_a_prompt_is_explained_and_the_text_kept(qtbot, window, services):
    services.settings.n_ctx = 256
    load_starter(qtbot, window, services)
    long_text = "word " * 400
    with qtbot.waitSignal(window.bridge.reply_failed, timeout=REPLY_TIMEOUT_MS):
        type_and_press_enter(qtbot, window, long_text)
    assert "context holds 256" in window.errors.message()
    assert window.prompt.toPlainText() == long_text  # nothing typed is lost
    assert window.chat.history == []


def test_closing_during_an_answer_exits_cleanly(qtbot, window, services):
    services.settings.max_tokens = 800
    load_starter(qtbot, window, services)
    with qtbot.waitSignal(window.bridge.text_ready, timeout=REPLY_TIMEOUT_MS):
        type_and_press_enter(qtbot, window, "Tell me a very long story about a castle.")
    chat_id = window.chat.chat_id
    window.close()
    assert not window.bridge.session.answering and window.bridge.session.wait_idle(0)
    assert window.bridge.engine.model_info is None  # the model was freed
    answer = services.chat_store.path(chat_id)[-1]
    assert answer.role == "assistant" and answer.status == "cancelled" and answer.content
