"""The window's side of your own documents, on the contract's fake engine: the Documents
window (collections, per-file problems, progress, Pause/Cancel off the GUI thread),
attaching files to a chat (action, drop, refused formats), policy, and the sources
block under an answer with its passage dialog. Real files, real index, real indexer."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QTextBrowser

from desktop_app.core.documents import IndexStore
from desktop_app.core.paths import Paths
from desktop_app.core.policy import Policy
from desktop_app.core.services import build_services
from document_files import make_mixed_folder, make_small_files, write_pdf, write_text
from fake_engine import FakeEngine

WAIT_MS = 30_000


@pytest.fixture
def window_on(qtbot, scalpel_home):
    """A window on a fake engine, its services built with ``policy`` (default unmanaged)."""
    from desktop_app.app import create_window

    made = []

    def open_(policy: Policy | None = None, *, prepare=None):
        services = build_services(Paths.under(scalpel_home))
        if policy is not None:
            services.policy = policy
        if prepare is not None:
            prepare(services)
        window = create_window(services, engine=FakeEngine())
        qtbot.addWidget(window)
        window.show()
        window.services = services
        made.append(window)
        qtbot.waitUntil(lambda: window.documents.ready, timeout=WAIT_MS)
        return window

    yield open_
    for window in made:
        window.close()


def wait_indexed(qtbot, ui):
    qtbot.waitUntil(lambda: not ui.controller.running and ui.controller.last_progress is not
                    None and ui.controller.last_progress.phase in ("done", "cancelled"),
                    timeout=WAIT_MS)


def table_rows(documents_window):
    table = documents_window.files
    return {Path(table.item(r, 0).text()).name: (table.item(r, 1).text(),
                                                  table.item(r, 2).text())
            for r in range(table.rowCount())}


# -- the Documents window -----------------------------------------------------------------

def test_documents_window_lists_collections_and_each_files_problem(qtbot, window_on, tmp_path):
    folder = tmp_path / "docs"
    make_mixed_folder(folder)
    window = window_on()
    ui = window.documents
    assert ui.documents_action.shortcut().toString() == "Ctrl+Shift+D"
    documents = ui.open_documents()
    assert documents.isVisible() and not documents.isModal()
    documents.new_collection("Manuals")
    qtbot.waitUntil(lambda: documents.current_name() == "Manuals", timeout=WAIT_MS)
    assert documents.add_folder(str(folder))
    wait_indexed(qtbot, ui)
    qtbot.waitUntil(lambda: len(table_rows(documents)) == 11, timeout=WAIT_MS)
    rows = table_rows(documents)
    assert rows["manual.pdf"] == ("Indexed", rows["manual.pdf"][1])
    assert rows["manual.pdf"][1].startswith("3 pages, ")
    assert rows["scan.pdf"][0] == "Scanned PDF" and "no text layer" in rows["scan.pdf"][1]
    assert rows["locked.pdf"][0] == "Encrypted" and "password" in rows["locked.pdf"][1]
    assert rows["empty.txt"][0] == "Empty"
    assert rows["photo.txt"][0] == "Binary" and "not text" in rows["photo.txt"][1]
    assert rows["old.doc"][0] == "Format not read" and ".docx" in rows["old.doc"][1]
    assert [documents.folders.item(0).text()] == [str(folder)]
    assert documents.progress_label.text() == "Indexing done."
    # no embedding model installed: said, and the catalog's download offered
    assert "search uses words only" in documents.embedding_note.text()
    offered = ui.controller.embedding_downloads()
    assert offered[0].id == "bge-small-en-v1.5"        # the smallest catalog embedding model
    assert f"Download {offered[0].name}" in documents.embedding_note.text()
    assert documents.download_button.isVisible()
    chosen = []
    window._download_entry = chosen.append
    ui.documents_window = None
    again = ui.open_documents()
    again.download_button.click()
    assert [entry.id for entry in chosen] == ["bge-small-en-v1.5"]
    again.close()
    # remove: the collection and its index go, the files stay
    documents.remove_collection("Manuals", confirm=False)
    qtbot.waitUntil(lambda: documents.collections.count() == 0, timeout=WAIT_MS)
    assert (folder / "manual.pdf").exists()


def test_progress_moves_pause_and_cancel_without_blocking_the_gui(qtbot, window_on, tmp_path):
    folder = tmp_path / "many"
    make_small_files(folder, 300)
    window = window_on()
    ui = window.documents
    indexer = ui.controller.background.indexer
    real_load = indexer.load

    def slow_load(path):   # a slow disk: each file takes 15 ms to arrive
        time.sleep(0.015)
        return real_load(path)
    indexer.load = slow_load
    documents = ui.open_documents()
    documents.new_collection("Notes")
    qtbot.waitUntil(lambda: documents.current_name() == "Notes", timeout=WAIT_MS)
    ticks = []
    timer = QTimer(interval=10)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    documents.add_folder(str(folder))

    def reading(least):
        progress = ui.controller.last_progress
        return progress is not None and progress.phase == "reading" and \
            progress.files_done >= least
    qtbot.waitUntil(lambda: reading(20), timeout=WAIT_MS)
    assert 0 < documents.progress_bar.value() < 1000
    assert documents.progress_label.text().startswith("Reading ")
    assert "of 300 files" in documents.progress_label.text()
    assert "passages/s" in documents.progress_label.text()
    assert documents.pause_button.isEnabled() and documents.cancel_button.isEnabled()

    documents.pause_button.click()
    qtbot.wait(300)   # the file under way finishes, then the run waits
    held = ui.controller.last_progress.files_done
    qtbot.wait(400)
    assert ui.controller.last_progress.files_done == held < 300
    assert documents.pause_button.text() == "Resume"
    assert documents.progress_label.text().startswith("Paused · ")
    documents.pause_button.click()
    qtbot.waitUntil(lambda: reading(held + 10), timeout=WAIT_MS)
    documents.cancel_button.click()
    wait_indexed(qtbot, ui)
    timer.stop()
    assert ui.controller.last_progress.phase == "cancelled"
    assert documents.progress_label.text().startswith("Indexing cancelled")
    info = ui.controller.store.collection("Notes")
    assert held + 10 <= info.files < 300
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) > 50 and max(gaps) < 0.25, f"the GUI thread stalled {max(gaps):.3f} s"


def test_an_interrupted_collection_is_indexed_again_at_start(qtbot, window_on, tmp_path):
    folder = tmp_path / "notes"
    write_text(folder.mkdir() or folder / "a.md", "# A\n\nThe kettle is blue.\n")

    def left_unindexed(services):   # as a killed run leaves it: the folder, no files yet
        store = IndexStore.open(services.paths)
        store.add_folder(store.ensure_collection("Left over"), str(folder))
        store.close()
    window = window_on(prepare=left_unindexed)
    ui = window.documents
    qtbot.waitUntil(lambda: (info := ui.controller.store.collection("Left over")) is not None
                    and info.files == 1 and info.chunks > 0, timeout=WAIT_MS)
    # and a file added while the app runs is picked up by the watcher
    write_text(folder / "b.md", "# B\n\nThe door is green.\n")
    ui.controller.watcher.check()
    qtbot.waitUntil(lambda: ui.controller.store.collection("Left over").files == 2,
                    timeout=WAIT_MS)


# -- attaching files ------------------------------------------------------------------------

def test_attach_action_adds_files_and_sets_the_chats_documents(qtbot, window_on, tmp_path,
                                                              monkeypatch):
    notes = write_text(tmp_path / "notes.md", "# Notes\n\nThe door code is 4417.\n")
    manual = write_pdf(tmp_path / "manual.pdf", ["Prime the pump.", "Descale monthly."])
    old = tmp_path / "old.doc"
    old.write_bytes(b"\xd0\xcf\x11\xe0 old word")
    window = window_on()
    ui = window.documents
    assert ui.attach_action.shortcut().toString() == "Ctrl+Shift+A"
    assert ui.clip.defaultAction() is ui.attach_action and ui.clip.isVisible()
    monkeypatch.setattr(QFileDialog, "getOpenFileNames",
                        lambda *a, **k: ([str(notes), str(manual), str(old)], ""))
    ui.attach_action.trigger()
    # the refused format is named at once, with the reason
    assert window.errors.isVisible()
    assert "old.doc" in window.errors.message() and ".docx" in window.errors.message()
    session = window.chat.session
    qtbot.waitUntil(lambda: len(session.documents) == 1, timeout=WAIT_MS)
    name = session.documents[0]
    assert name.startswith("Attachments of a new chat")
    wait_indexed(qtbot, ui)
    qtbot.waitUntil(lambda: ui.bar.chip_labels() == ["manual.pdf", "notes.md"],
                    timeout=WAIT_MS)
    assert ui.bar.isVisible()
    info = ui.controller.store.collection(name)
    assert info.files == 2 and info.problems == 0
    # attaching again to the same chat uses the same collection
    third = write_text(tmp_path / "third.txt", "Third file.\n")
    ui.attach([str(third)])
    qtbot.waitUntil(lambda: "third.txt" in ui.bar.chip_labels(), timeout=WAIT_MS)
    assert session.documents == (name,)
    # the × takes a file off the chat
    chip = next(c for c in ui.bar.chips if c.text().startswith("notes.md"))
    chip.click()
    qtbot.waitUntil(lambda: ui.bar.chip_labels() == ["manual.pdf", "third.txt"],
                    timeout=WAIT_MS)
    assert notes.exists()


def test_files_dropped_on_the_conversation_are_attached(qtbot, window_on, tmp_path):
    notes = write_text(tmp_path / "dropped.md", "# Dropped\n\nA note.\n")
    window = window_on()
    ui = window.documents
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(notes))])
    viewport = window.panel.view.viewport()
    enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, enter)   # as a drag arrives: Qt drops on its target
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, drop)
    qtbot.waitUntil(lambda: ui.bar.chip_labels() == ["dropped.md"], timeout=WAIT_MS)
    # text dropped on the message box stays text (not taken as an attachment)
    text = QMimeData()
    text.setText("just words")
    drop = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, text,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    assert not ui.drops.eventFilter(window.panel.prompt.viewport(), drop)


def test_the_picker_sets_the_chats_collections(qtbot, window_on, tmp_path):
    def two_collections(services):
        other = services.chat_store.create_chat(title="Other")
        services.chat_store.set_chat_documents(other.id, [f"Attachments of chat {other.id}"])
        store = IndexStore.open(services.paths)
        store.ensure_collection("Manuals")
        store.ensure_collection(f"Attachments of chat {other.id}")  # another chat's: not offered
        store.ensure_collection("Attachments of chat 99")   # no chat's: forgotten
        store.close()
    window = window_on(prepare=two_collections)
    ui = window.documents
    qtbot.waitUntil(lambda: [c.name for c in ui.controller.listing.collections] == [
        "Attachments of chat 1", "Manuals"], timeout=WAIT_MS)
    picker = ui.choose_collections()
    assert [picker.list.item(i).text() for i in range(picker.list.count())] == ["Manuals"]
    picker.set_checked("Manuals", True)
    picker.accept()
    assert window.chat.session.documents == ("Manuals",)
    assert ui.bar.chip_labels() == ["Manuals"]
    ui.bar.chips[0].click()
    assert window.chat.session.documents == ()
    assert ui.bar.isHidden()


def test_screening_names_refused_formats_and_folders_outside_the_policy(tmp_path):
    from desktop_app.ui.documents.attachments import screen

    inside, outside = tmp_path / "allowed", tmp_path / "elsewhere"
    inside.mkdir()
    outside.mkdir()
    notes = write_text(inside / "notes.md", "words\n")
    picture = inside / "photo.png"
    picture.write_bytes(b"\x89PNG")
    old = inside / "old.doc"
    old.write_bytes(b"x")
    away = write_text(outside / "away.txt", "words\n")
    policy = replace(Policy.unmanaged(), documents_folders=(inside,))
    result = screen([str(notes), str(picture), str(old), str(away), str(inside / "gone.md")],
                    policy)
    assert result.accepted == (str(notes),)
    refused = "\n".join(result.refused)
    assert "photo.png: .png files are not read" in refused
    assert "old.doc: old Word documents (.doc) are not read; save it as .docx" in refused
    assert "away.txt" in refused and "outside the folders" in refused
    assert "gone.md: it does not exist" in refused


def test_documents_turned_off_by_policy(qtbot, window_on, tmp_path):
    window = window_on(replace(Policy.unmanaged(), documents_enabled=False))
    ui = window.documents
    documents = ui.open_documents()
    assert "turns off your own documents" in documents.policy_label.text()
    assert not hasattr(documents, "collections")      # offers nothing
    assert not ui.attach_action.isEnabled()
    result = ui.attach([str(write_text(tmp_path / "a.md", "x\n"))])
    assert result.accepted == () and "turned off" in window.errors.message()
    assert ui.controller.store is None and not ui.controller.running


def test_a_folder_outside_the_allowed_ones_gets_the_sentence(qtbot, window_on, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    window = window_on(replace(Policy.unmanaged(), documents_folders=(allowed,)))
    documents = window.documents.open_documents()
    documents.new_collection("Work")
    qtbot.waitUntil(lambda: documents.current_name() == "Work", timeout=WAIT_MS)
    assert not documents.add_folder(str(tmp_path))
    assert documents.message.isVisible()
    assert "outside the folders your organization's policy allows" in documents.message.text()
    assert documents.add_folder(str(allowed))


# -- sources under an answer ------------------------------------------------------------------

HOSTILE = {"marker": 1, "file": "/tmp/<img src=x onerror=alert(1)>.md", "page": None,
           "heading": "<b>Bold</b> & co", "line_start": 3, "line_end": 9,
           "passage": "<script>alert('x')</script> see <a href='javascript:evil()'>here</a>"}


def test_sources_html_escapes_hostile_file_names_and_passages(qtbot):
    from desktop_app.ui.sources_view import grounding_html, sources_html

    pdf = {"marker": 2, "file": "/docs/manual.pdf", "page": 4, "heading": None,
           "line_start": 1, "line_end": 5, "passage": "Descale the boiler every month."}
    block = grounding_html(7, {"mode": "passages",
                               "sources": [HOSTILE, pdf, {"marker": "x"}, "junk"]})
    assert "<script" not in block and "<img" not in block and "<b>Bold" not in block
    assert "javascript:" not in re.findall(r"href='([^']*)'", block)
    assert re.findall(r"href='([^']*)'", block) == ["source:7:1", "openfile:7:1",
                                                    "source:7:2", "openfile:7:2"]
    browser = QTextBrowser()
    qtbot.addWidget(browser)
    browser.setHtml(block)
    shown = browser.toPlainText()
    assert "[1] <img src=x onerror=alert(1)>.md, <b>Bold</b> & co" in shown
    assert "<script>alert('x')</script>" in shown
    assert "[2] manual.pdf, page 4" in shown and "Descale the boiler" in shown
    assert sources_html(7, []) == "" and grounding_html(7, None) == ""
    assert "not based on them" in grounding_html(7, {"mode": "none", "sources": []})


def test_source_links_open_the_passage_dialog_and_the_file(qtbot, window_on, tmp_path):
    real = write_text(tmp_path / "real.md", "# Real\n\nText.\n")
    window = window_on()
    store = window.services.chat_store
    chat = store.create_chat()
    question = store.add_message(chat.id, parent_id=None,
                                 role="user", content="q")
    sources = [HOSTILE, {**HOSTILE, "marker": 2, "file": str(real), "passage": "Text."}]
    answer = store.add_message(question.chat_id, parent_id=question.id, role="assistant",
                               content="Answer [1][2].",
                               stats={"grounding": {"mode": "passages", "sources": sources}})
    links = window.documents.links
    opened = []
    links.open_url = lambda url: opened.append(url.toLocalFile()) or True
    assert links.handle("action:copy:1") is False
    assert links.handle(f"source:{answer.id}:1")
    dialog = links.dialog
    assert dialog.isVisible() and dialog.passage.toPlainText() == HOSTILE["passage"]
    assert dialog.heading.text().startswith("[1] <img src=x onerror=alert(1)>.md")
    assert not dialog.open_file()                         # the hostile path does not exist
    assert "moved or deleted" in dialog.problem.text() and opened == []
    assert links.handle(f"openfile:{answer.id}:2")
    assert opened == [str(real)]
    assert links.handle(f"source:{answer.id}:2") and links.dialog.open_file()
    assert opened == [str(real), str(real)]
    assert links.handle(f"source:{answer.id}:9")          # gone: said, not a crash
    assert "no longer stored" in window.errors.message()


def test_a_new_chats_attachments_are_saved_with_it_and_follow_chat_switches(qtbot, window_on,
                                                                            tmp_path):
    notes = write_text(tmp_path / "notes.md", "# Notes\n\nThe door code is 4417.\n")
    window = window_on()
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=WAIT_MS):
        window.start()
    ui = window.documents
    ui.attach([str(notes)])
    qtbot.waitUntil(lambda: ui.bar.chip_labels() == ["notes.md"], timeout=WAIT_MS)
    wait_indexed(qtbot, ui)
    name = window.chat.session.documents[0]
    with qtbot.waitSignal(window.bridge.reply_finished, timeout=WAIT_MS):
        window.prompt.setPlainText("What is the door code?")
        qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.chat.answering, timeout=WAIT_MS)
    chat_id = window.chat.chat_id
    assert window.services.chat_store.chat_documents(chat_id) == [name]
    window.panel.new_chat()
    qtbot.waitUntil(lambda: ui.bar.chip_labels() == [], timeout=WAIT_MS)
    assert ui.bar.isHidden()
    window.panel.open_chat(chat_id)
    qtbot.waitUntil(lambda: ui.bar.chip_labels() == ["notes.md"], timeout=WAIT_MS)
    # another chat's attachments stay while it exists; a deleted chat's index goes
    window.panel.new_chat()
    window.services.chat_store.create_chat(title="Other")
    window.bridge.chats_changed.emit()
    qtbot.wait(300)
    assert ui.controller.store.collection(name) is not None
    window.chat.session.delete_chat(chat_id)
    qtbot.waitUntil(lambda: ui.controller.store.collection(name) is None, timeout=WAIT_MS)
    assert notes.exists()


def test_map_reduce_progress_shows_in_the_documents_bar(qtbot, window_on):
    from desktop_app.core.session.events import AnswerProgress

    window = window_on()
    bar = window.documents.bar
    bar.show_answer_progress(AnswerProgress(1, 2, "Reading part 2 of 5…"))
    assert bar.status.text() == "Reading part 2 of 5…" and bar.isVisible()
    bar.show_answer_progress(1, 2, "Reading part 3 of 5…")   # the bridge's other shape
    assert bar.status.text() == "Reading part 3 of 5…"
    bar.clear_answer_progress(object())
    assert bar.status.text() == "" and bar.isHidden()
    signal = getattr(window.bridge, "answer_progress", None)
    if signal is not None:   # the bridge re-emits AnswerProgress (Signal(object)): the bar shows it
        signal.emit(AnswerProgress(window.chat.chat_id, 3, "Combining 2 sets of notes…"))
        assert "Combining 2 sets" in bar.status.text()
