"""Orchestration in the window, on the contract's fake engine (wiring; the real model and
a real llama_cpp.server are in test_escalation_session.py): the route line, Answer as…,
a weak answer's offer, keep-local, Model details' signals."""

from __future__ import annotations

import pytest

from desktop_app.core.errors import ConsentNeededError
from gui_helpers import open_fake_window, send_to_fake

ESCALATION = {"mode": "ask", "endpoint": "http://127.0.0.1:9/v1", "model": "big-model"}


@pytest.fixture
def window_on(qtbot, services):
    made = []

    def open_(*, words=3, escalation=None):
        if escalation is not None:
            services.update_settings(escalation=escalation)
        window = open_fake_window(qtbot, services, words=words)
        made.append(window)
        return window

    yield open_
    for window in made:
        window.close()


send = send_to_fake


def test_auto_shows_where_each_answer_went_and_why(qtbot, window_on):
    window = window_on()
    assert window.chat.preset.id == "auto"
    lines = []
    window.bridge.answer_routed.connect(lambda event: lines.append(event.routed.line()))
    send(qtbot, window, "translate to German: good morning")
    assert lines and lines[-1].startswith("Translate · ")
    assert "asks for a translation into German" in window.view.toPlainText()
    send(qtbot, window, "Why?\n```python\nprint(1/0)\n```")
    assert "Code assistant · " in window.view.toPlainText()
    assert "a code block in the message" in window.view.toPlainText()
    # the chat's task is still Auto; each answer keeps its own
    assert window.chat.preset.id == "auto"
    assert [m.preset_id for m in window.chat.path if m.role == "assistant"] == [
        "translate", "code"]


def test_answer_as_reruns_with_another_task_as_a_new_version(qtbot, window_on):
    window = window_on()
    send(qtbot, window, "Lunch moved to 1pm, tell the team")
    answer = window.chat.path[-1]
    menu = window.chat.answer_as_menu(answer.id)
    titles = [a.text() for a in menu.actions()]
    assert "Answer as Auto" not in titles and f"Answer as {answer.preset_id}" not in titles
    email = next(a for a in menu.actions() if a.text() == "Answer as Write email")
    with qtbot.waitSignal(window.bridge.reply_finished, timeout=10_000):
        email.trigger()
    qtbot.waitUntil(lambda: not window.chat.answering, timeout=10_000)
    again = window.chat.path[-1]
    assert again.id != answer.id and again.preset_id == "email"
    assert "Write email · " in window.view.toPlainText() and "chosen by you" in \
        window.view.toPlainText()
    assert "2/2" in window.view.toPlainText()


def test_a_weak_answer_is_offered_to_the_bigger_model_and_nothing_leaves_without_consent(
        qtbot, window_on):
    window = window_on(words=30, escalation=ESCALATION)   # the echo repeats itself: weak
    asked = []

    def decline(needed: ConsentNeededError) -> bool:
        asked.append(needed)
        return False

    window.chat._ask_consent = decline
    with qtbot.waitSignal(window.bridge.escalation_suggested, timeout=10_000):
        send(qtbot, window, "Tell me about heat pumps")
    assert window.notice.isVisible()
    button = next(b for b in window.notice._buttons if b.text() == "Ask the bigger model")
    button.click()
    assert asked and asked[0].endpoint == ESCALATION["endpoint"]
    assert "Tell me about heat pumps" in asked[0].preview
    assert len([m for m in window.chat.path if m.role == "assistant"]) == 1
    assert not window.chat.answering
    assert "Ask the bigger model" in window.view.toHtml()


def test_keep_on_this_computer_is_a_mark_on_the_chat(qtbot, window_on):
    window = window_on(escalation=ESCALATION)
    action = window.orchestration.keep_local_action
    send(qtbot, window, "a private note")
    chat_id = window.chat.chat_id
    assert not action.isChecked()
    action.trigger()
    assert window.chat.store.keep_local(chat_id)
    window.chat.new_chat()
    assert not action.isChecked()
    window.chat.open_chat(chat_id)
    assert action.isChecked()


def test_model_details_show_every_signal_and_threshold(qtbot, window_on):
    window = window_on(escalation=ESCALATION)
    send(qtbot, window, "Hello there")
    dialog = window.open_model_details()
    labels = [label for label, _ in dialog.rows]
    assert "Last answer" in labels and "Escalation" in labels and "Thresholds" in labels
    assert {"Signal: repetition", "Signal: logprob_p10", "Signal: cut_off"} <= set(labels)
    assert "not measured" in dialog.value("Signal: logprob_p10")   # the fake measures none
    assert dialog.value("Escalation").startswith("ask: big-model at http://127.0.0.1:9/v1")
    dialog.close()


def test_escalation_set_in_settings_applies_from_the_next_answer(qtbot, window_on, services):
    window = window_on()
    send(qtbot, window, "Hello there")
    assert "Ask the bigger model" not in window.view.toHtml()
    assert window.chat.session.escalation_mode == "off"
    services.update_settings(escalation=ESCALATION)
    qtbot.waitUntil(lambda: window.chat.session.escalation_mode == "ask", timeout=5_000)
    assert "Ask the bigger model" in window.view.toHtml()


def test_the_empty_chat_never_promises_more_than_the_set_up(qtbot, window_on, services):
    window = window_on()
    assert "Nothing you type is sent anywhere." in window.view.toPlainText()
    services.update_settings(escalation={**ESCALATION, "mode": "auto"})
    qtbot.waitUntil(lambda: window.chat.session.escalation_mode == "auto", timeout=5_000)
    text = window.view.toPlainText()
    assert "Nothing you type is sent anywhere." not in text
    assert "by itself when a local answer looks weak" in text
