"""A full disk while answering, through the real window on a small real tmpfs.

Before: with a few KB left, each periodic save of the streaming answer raised an uncaught
"database or disk is full", the finish handler raised too, and the window stayed
"answering" forever. Now the answer so far stays on screen, the error bar says the disk is
full, the window is idle, the next message (after freeing space) is saved, and the file
passes integrity_check. The person's own message failing to save stays in the message box.
The engine is the contract's fake: only the disk matters here.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from fake_engine import FakeEngine

TMPFS_SIZE = "8m"  # far above the 1 MB "nearly full" line until it is filled on purpose


@pytest.fixture
def small_disk(scalpel_home):
    """SCALPEL_HOME's data folder on its own 8 MB tmpfs (root only: skipped elsewhere)."""
    data = scalpel_home / "data"
    data.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs",
                              str(data)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not root'})")
    disk = Disk(data)
    yield disk
    disk.free()
    subprocess.run(["umount", "-l", str(data)], check=False)


class Disk:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.filler = folder / "filler"

    def fill(self) -> None:
        """Write until the disk refuses another byte."""
        descriptor = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for size in (1 << 20, 4096, 1):
                try:
                    while True:
                        os.write(descriptor, b"\0" * size)
                except OSError:
                    continue
        finally:
            os.close(descriptor)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def disk_window(qtbot, small_disk):
    from desktop_app.app import create_window
    from desktop_app.core.paths import Paths
    from desktop_app.core.services import build_services

    services = build_services(Paths.under(small_disk.folder.parent))
    engine = FakeEngine(words=40, delay=0.004)  # ~1 s an answer: time to fill the disk in it
    window = create_window(services, engine=engine)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=10_000):
        window.start()
    window.bridge.session.save_interval_s = 0.02  # a save every few words
    window.services, window.engine = services, engine
    yield window
    window.close()


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def test_the_disk_filling_mid_answer_keeps_the_answer_and_returns_to_idle(
        qtbot, disk_window, small_disk):
    window = disk_window
    store_file = small_disk.folder / "chats.sqlite3"
    words: list[str] = []
    window.bridge.text_ready.connect(words.append)
    window.prompt.setPlainText("tell me about lighthouses")
    with qtbot.waitSignal(window.bridge.reply_finished, timeout=30_000):
        qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: len(words) >= 5, timeout=10_000)
        small_disk.fill()
    qtbot.waitUntil(lambda: not window.chat.answering, timeout=10_000)

    answer = "echo tell me about lighthouses " * 40
    assert answer.strip() in " ".join(window.view.toPlainText().split())  # all of it shown
    assert "disk is full" in window.errors.message()
    assert window.send_button.text() == "Send" and window.send_button.isEnabled()
    assert not window.bridge.session.answering

    small_disk.free()
    window.prompt.setPlainText("and about storms")
    with qtbot.waitSignal(window.bridge.reply_finished, timeout=30_000):
        qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.chat.answering, timeout=10_000)
    store = window.services.chat_store
    contents = [m.content for m in store.path(window.chat.chat_id)]
    assert contents[0] == "tell me about lighthouses"  # committed before the disk filled
    assert contents[-2:] == ["and about storms", "echo and about storms " * 40]
    assert store.integrity_ok() and integrity(store_file) == "ok"


def test_a_message_that_cannot_be_saved_stays_in_the_box(qtbot, disk_window, small_disk):
    window = disk_window
    small_disk.fill()
    window.prompt.setPlainText("a question for a full disk")
    qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "disk is full" in window.errors.message(), timeout=10_000)
    assert window.prompt.toPlainText() == "a question for a full disk"
    assert not window.chat.answering and window.send_button.text() == "Send"
    assert window.services.chat_store.list_chats() == []

    small_disk.free()
    with qtbot.waitSignal(window.bridge.reply_finished, timeout=30_000):
        qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.chat.answering, timeout=10_000)
    assert window.prompt.toPlainText() == ""
    chat, = window.services.chat_store.list_chats()
    assert window.services.chat_store.path(chat.id)[0].content == "a question for a full disk"
    assert integrity(small_disk.folder / "chats.sqlite3") == "ok"
