"""Killing the real app mid-answer loses nothing: the window's own saving path, SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from desktop_app.core.chats import ChatStore

pytestmark = pytest.mark.model  # the app it kills is answering with the starter model

DRIVER = textwrap.dedent("""
    import os
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtWidgets import QApplication
    from desktop_app.app import create_window
    from desktop_app.core.paths import Paths
    from desktop_app.core.services import build_services

    app = QApplication([])
    services = build_services(Paths.from_environment())
    services.settings.temperature = 0.0
    services.settings.max_tokens = 3000
    store = services.chat_store
    real_update = store.update_message
    saves = []

    def update_and_tell(*args, **kwargs):
        real_update(*args, **kwargs)
        saves.append(kwargs.get("status"))
        print(f"saved {kwargs.get('status')} {len(kwargs.get('content', ''))}", flush=True)

    store.update_message = update_and_tell
    window = create_window(services)
    window.bridge.session.save_interval_s = 0.1  # save often: the kill must land mid-answer
    window.show()

    def finished(answering):
        if not answering:  # the answer ended before the kill: say so and exit, never hang
            print("finished", flush=True)
            app.quit()

    window.chat.answering_changed.connect(finished)
    window.bridge.model_loaded.connect(lambda _info: window.panel.send(
        "Write a very long, detailed story about a lighthouse keeper and a storm, "
        "in at least ten paragraphs."))
    window.start()
    app.exec()
""")


def test_killing_the_app_mid_answer_keeps_the_question_and_the_answer_so_far(
        scalpel_home, qtbot):
    child = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "SCALPEL_HOME": str(scalpel_home)})
    seen, saved_text = [], 0
    try:
        for line in child.stdout:  # as long as it takes: no timing assumed
            seen.append(line.strip())
            words = line.split()
            if words[:2] == ["saved", "partial"] and int(words[2]) > 0:
                saved_text += 1
            if saved_text >= 2 or line.startswith("finished"):
                break
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(60)
    assert "finished" not in seen, "the model ended its answer before the kill; " + str(seen)
    assert child.returncode == -signal.SIGKILL
    store = ChatStore(scalpel_home / "data" / "chats.sqlite3")
    assert store.integrity_ok()
    chat, = store.list_chats()
    question, answer = store.path(chat.id)
    assert question.status == "complete" and question.content.startswith("Write a very long")
    assert answer.status == "partial" and answer.content.strip()
    store.close()

    from desktop_app.app import create_window
    from desktop_app.core.paths import Paths
    from desktop_app.core.services import build_services

    services = build_services(Paths.under(scalpel_home))
    services.settings.last_chat_id = chat.id
    window = create_window(services)
    qtbot.addWidget(window)
    window.start()
    shown = window.view.toPlainText()
    assert answer.content.strip()[:30] in shown and "Interrupted" in shown
    window.close()
