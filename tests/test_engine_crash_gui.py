"""Killing the engine process mid-answer: the window stays up, the chat is intact, and the
next prompt is answered by a restarted engine (issue 7's "done when", as a person sees it)."""

from __future__ import annotations

import os
import signal

from PySide6.QtCore import Qt

from desktop_app.core.models import STARTER_ID
from gui_helpers import LOAD_TIMEOUT_MS, REPLY_TIMEOUT_MS, send, started

STORY = "Write a very long story about a lighthouse keeper and his cat."


def test_killing_the_engine_mid_answer_keeps_the_window_and_the_chat(qtbot, open_window,
                                                                     services):
    window = started(qtbot, open_window(temperature=0.0, max_tokens=400))
    engine = window.bridge.engine
    gui_pid, first_engine = os.getpid(), engine.pid
    assert first_engine not in (None, gui_pid)  # llama.cpp runs in its own process
    first = send(qtbot, window, "Name three colours.")
    chat_id = window.chat.chat_id
    before = [(m.role, m.content) for m in services.chat_store.path(chat_id)]
    assert before[-1] == ("assistant", first.text)

    with qtbot.waitSignal(window.bridge.reply_failed, timeout=REPLY_TIMEOUT_MS) as failed:
        with qtbot.waitSignal(window.bridge.text_ready, timeout=REPLY_TIMEOUT_MS):
            window.prompt.setPlainText(STORY)
            qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
        os.kill(first_engine, signal.SIGKILL)  # as the OS does when memory runs out
    qtbot.waitUntil(lambda: not window.chat.answering, timeout=10_000)

    assert window.isVisible() and os.getpid() == gui_pid
    message = window.errors.message()
    assert window.errors.isVisible() and message == failed.args[0]
    assert "engine stopped while answering" in message and "Traceback" not in message
    assert [(m.role, m.content) for m in services.chat_store.path(chat_id)] == before
    assert window.prompt.toPlainText() == STORY  # the question is back, ready to resend
    assert window.chat.model is not None and window.send_button.isEnabled()

    with qtbot.waitSignal(window.bridge.engine_restarting, timeout=REPLY_TIMEOUT_MS):
        answer = send(qtbot, window, STORY)
    assert answer.text.strip() and engine.pid not in (None, first_engine, gui_pid)
    after = [(m.role, m.content) for m in services.chat_store.path(chat_id)]
    assert after[:len(before)] == before and after[-1] == ("assistant", answer.text)
    assert not window.status.loading_label.isVisible()  # "restarting…" is gone


def test_unloading_ends_the_engine_process_and_a_model_can_be_chosen_again(
        qtbot, open_window, services):
    window = started(qtbot, open_window(temperature=0.0, max_tokens=16))
    send(qtbot, window, "Name three colours.")
    engine = window.bridge.engine
    engine_pid, chat_id = engine.pid, window.chat.chat_id
    assert window.unload_action.isEnabled()

    with qtbot.waitSignal(window.bridge.unloaded, timeout=30_000):
        window.unload_action.trigger()
    assert not _alive(engine_pid)  # all of the model's memory went with the process
    assert window.chat.model is None and not window.send_button.isEnabled()
    assert "No model loaded" in window.status.model.text()
    assert not window.unload_action.isEnabled()
    assert services.chat_store.get_chat(chat_id).model  # the chat still remembers its model

    starter = services.registry.resolve(STARTER_ID)
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=LOAD_TIMEOUT_MS):
        window.load_model(starter)
    assert engine.pid not in (None, engine_pid)
    assert send(qtbot, window, "And three animals?").text.strip()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False
