"""Hostile and odd inputs in the window (the engine, CLI and store cases are in
test_hostile_inputs.py), with the real engine and model:

1. an empty or whitespace-only message is not sent: nothing stored, no engine call, the
   Send button stays usable and the text stays in the box.
2. a 1 MB paste is accepted; sending it gives the "conversation is N tokens but the model's
   context holds M" message, the text goes back into the box and no empty chat is left.
8. two windows (one store object, or two connections) and two processes on one
   SCALPEL_HOME answer at the same time: both chats are stored whole, the file passes
   integrity_check, and no "database is locked" reaches anyone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from gui_helpers import REPLY_TIMEOUT_MS, send, started


BRIEF = {"id": "brief", "name": "Brief", "max_tokens": 24,
         "sampling": {"temperature": 0.0, "top_p": 0.95, "top_k": 40, "min_p": 0.05,
                      "repeat_penalty": 1.0, "seed": None}}


def use_brief_preset(services) -> None:
    """The task preset's sampling wins over the settings: a greedy, 24-token one."""
    directory = services.paths.config_dir / "presets"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "brief.json").write_text(json.dumps(BRIEF), encoding="utf-8")
    services.presets.reload()
    services.settings.last_preset = "brief"


def count_engine_calls(window) -> list:
    """Record every generate request the window's session makes of its engine."""
    calls: list = []
    engine = window.bridge.engine
    real = engine.generate

    def spy(messages, params):
        calls.append(messages)
        return real(messages, params)

    engine.generate = spy  # the session calls it through the instance
    return calls


# -- 1. empty and blank messages ---------------------------------------------------

@pytest.mark.parametrize("text", ["", "   ", "\n\n\t", "\u00a0\u2003\u3000"])
def test_an_empty_or_blank_message_is_not_sent(qtbot, open_window, services, text):
    """Enter and the Send button both ignore a message that is empty or only whitespace
    (Unicode spaces too): no chat or message is stored, the engine is not asked, the button
    still says Send and is enabled, the text stays as typed and no error is shown."""
    use_brief_preset(services)
    window = started(qtbot, open_window())
    calls = count_engine_calls(window)
    window.prompt.setPlainText(text)
    typed = window.prompt.toPlainText()  # (Qt shows a no-break space as a space)
    window.prompt.setFocus()
    qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    qtbot.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
    QApplication.processEvents()
    assert calls == [] and not window.chat.answering and not window.bridge.busy
    assert services.chat_store.list_chats() == [] and window.chat.chat_id is None
    assert window.send_button.isEnabled() and window.send_button.text() == "Send"
    assert window.prompt.toPlainText() == typed
    assert not window.errors.isVisible()


# -- 2. a megabyte pasted into the message box ---------------------------------------

def test_a_megabyte_paste_is_refused_as_too_long_and_kept(qtbot, open_window, services):
    """1 MB pasted into the box is accepted (the event loop goes on turning); sending it ends
    in the "The conversation is N tokens but the model's context holds 4,096" message, with
    the whole text back in the box, nothing stored (not even an empty chat), the Send
    button usable, and the next message answered."""
    use_brief_preset(services)
    window = started(qtbot, open_window(n_ctx=4096))
    big = ("The quick brown fox jumps over the lazy dog; pack my box with five dozen "
           "liquor jugs.\n") * 12_500
    assert len(big) >= 1_000_000
    QApplication.clipboard().setText(big)
    window.prompt.setFocus()
    window.prompt.paste()
    turned = []
    QTimer.singleShot(0, lambda: turned.append(True))
    qtbot.waitUntil(lambda: bool(turned), timeout=60_000)  # the loop is free after the paste
    pasted = window.prompt.toPlainText()
    assert pasted == big  # all of it, as pasted
    with qtbot.waitSignal(window.bridge.reply_failed, timeout=REPLY_TIMEOUT_MS) as failed:
        qtbot.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
        turned.clear()
        QTimer.singleShot(0, lambda: turned.append(True))
        qtbot.waitUntil(lambda: bool(turned), timeout=60_000)  # ... and while it is sent
    qtbot.waitUntil(lambda: not window.chat.answering, timeout=60_000)
    message = failed.args[0]
    assert message.startswith("The conversation is ") and "context holds 4,096" in message
    assert window.errors.isVisible() and "context holds 4,096" in window.errors.message()
    assert window.prompt.toPlainText() == pasted  # nothing typed is lost
    assert services.chat_store.list_chats() == [] and window.chat.chat_id is None
    assert window.send_button.isEnabled() and window.send_button.text() == "Send"

    window.prompt.clear()
    finished = send(qtbot, window, "Say hi")
    assert finished.text.strip()
    assert len(services.chat_store.list_chats()) == 1


# -- 8. two windows, two processes, one store -----------------------------------------

@pytest.mark.parametrize("how", ["one store object", "two connections"])
def test_two_windows_answering_at_once_share_the_store_safely(qtbot, open_window, services,
                                                             scalpel_home, how):
    """Two windows on one SCALPEL_HOME (sharing the ChatStore, or each with its own SQLite
    connection) send at the same time and both answers stream in together: both chats are
    stored whole, the file passes integrity_check, and neither window shows an error."""
    from desktop_app.app import create_window
    from desktop_app.core.paths import Paths
    from desktop_app.core.services import build_services

    use_brief_preset(services)
    first = started(qtbot, open_window())
    if how == "one store object":
        second = started(qtbot, open_window())
    else:
        other = build_services(Paths.under(scalpel_home))
        other.settings.last_preset = "brief"
        second = create_window(other)
        qtbot.addWidget(second)
        second.show()
        started(qtbot, second)
        assert other.chat_store is not services.chat_store
    for window in (first, second):
        window.bridge.session.save_interval_s = 0.02  # partial saves while the other one writes
    with qtbot.waitSignals([first.bridge.reply_finished, second.bridge.reply_finished],
                           timeout=REPLY_TIMEOUT_MS):
        first.panel.send("Write a short poem about the sea.")
        second.panel.send("Write a short poem about the mountains.")
        assert first.chat.answering and second.chat.answering
    qtbot.waitUntil(lambda: not first.chat.answering and not second.chat.answering,
                    timeout=60_000)
    try:
        store = services.chat_store
        assert store.integrity_ok()
        chats = {chat.id: chat for chat in store.list_chats()}
        assert set(chats) == {first.chat.chat_id, second.chat.chat_id} and len(chats) == 2
        for window in (first, second):
            question, answer = store.path(window.chat.chat_id)
            assert question.role == "user" and answer.role == "assistant"
            assert answer.status == "complete" and answer.content.strip()
            assert not window.errors.isVisible()
    finally:
        if how == "two connections":
            second.close()


DRIVER = textwrap.dedent("""
    import os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from desktop_app.app import create_window
    from desktop_app.core.paths import Paths
    from desktop_app.core.services import build_services

    tag, turns = sys.argv[1], int(sys.argv[2])
    app = QApplication([])
    services = build_services(Paths.from_environment())
    services.presets.reload()  # the test wrote a greedy 24-token preset
    services.settings.last_preset = "brief"
    window = create_window(services)
    window.bridge.session.save_interval_s = 0.02  # write often, to meet the other process's writes
    sent = []

    def fail(message):
        print(f"error {message}", flush=True)
        app.exit(1)

    window.errors.show_message = fail

    def next_turn(*_):
        if window.chat.answering:
            return
        if len(sent) == turns:
            print("done", flush=True)
            window.close()
            app.exit(0)
            return
        sent.append(f"{tag}: tell me fact number {len(sent) + 1} about the sea.")
        window.panel.send(sent[-1])

    later = lambda *_: QTimer.singleShot(0, next_turn)  # outside the signal's emitter
    window.bridge.model_loaded.connect(later)
    window.chat.answering_changed.connect(later)
    window.show()
    window.start()
    sys.exit(app.exec())
""")


@pytest.mark.model  # each process chats with the starter model
def test_two_processes_on_one_home_both_chat_and_the_store_stays_whole(scalpel_home):
    """Two Scalpel processes started together on one SCALPEL_HOME (no chat database yet)
    each hold a
    two-turn chat: both exit 0 with no error shown and nothing about a locked database on
    stderr; the store passes integrity_check and holds both chats, four messages each."""
    from desktop_app.core.chats import ChatStore

    presets = scalpel_home / "config" / "presets"
    presets.mkdir(parents=True)
    (presets / "brief.json").write_text(json.dumps(BRIEF), encoding="utf-8")
    env = {**os.environ, "SCALPEL_HOME": str(scalpel_home), "QT_QPA_PLATFORM": "offscreen"}
    children = [subprocess.Popen([sys.executable, "-c", DRIVER, tag, "2"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for tag in ("one", "two")]
    results = []
    try:
        for child in children:
            out, err = child.communicate(timeout=600)  # generous: a limit, not a speed claim
            results.append((child.returncode, out, err))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    for code, out, err in results:
        assert code == 0 and "done" in out, f"{out}\n{err}"
        assert "locked" not in err and "Traceback" not in err, err
    store = ChatStore(scalpel_home / "data" / "chats.sqlite3")
    assert store.integrity_ok()
    chats = store.list_chats()
    assert len(chats) == 2
    for chat in chats:
        path = store.path(chat.id)
        assert [m.role for m in path] == ["user", "assistant", "user", "assistant"]
        assert all(m.status == "complete" for m in path)
    tags = sorted(store.path(chat.id)[0].content.split(":")[0] for chat in chats)
    assert tags == ["one", "two"]
