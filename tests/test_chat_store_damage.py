"""A damaged or unreachable chats file (issue 20, part 1): SQLite's promises are the bar.

Before: a garbage, cut or newer file ended the window at start with one line on stderr
(exit 1; earlier an abort, exit 134), garbage inside pages with a traceback; a read-only
file opened silently and every send failed; a journal (-wal) beside a cut or replaced
file was folded into it and deleted, leaving a malformed store that failed every send,
or a foreign journal silently replaced the chats. Now ``open_chat_store`` never raises:
a damaged file is copied aside (with its -wal/-shm, named with the date) before anything
writes to it and what can be read is recovered into a new file; a journal that is not the
file's own is set aside; a read-only file or folder, a full disk or a newer file leave the
chats readable from memory with a sentence that names the cause. The window always opens
and says it; ``scalpel chat`` says it in one line.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import damaged_stores as damage
from desktop_app.core.chats import ChatStore
from desktop_app.core.chats.opening import StoreOpening, open_chat_store
from desktop_app.core.chats.salvage import salvage


@pytest.fixture
def db(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    return folder / "chats.sqlite3"


@pytest.fixture
def undo_immutable():
    paths: list[Path] = []
    yield paths
    damage.set_writable(paths)


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        result = connection.execute("PRAGMA integrity_check").fetchone()[0]
    connection.close()
    return result


def titles(store: ChatStore) -> set[str]:
    return {chat.title for chat in store.list_chats()}


def kept_copy_matches(opening: StoreOpening, before: dict[str, bytes]) -> None:
    """The copy set aside is the file set exactly as it was (nothing wrote to it first)."""
    copy = Path(opening.kept_copy)
    assert copy.name.startswith("chats-") and copy.suffix == ".sqlite3"
    assert {suffix: Path(str(copy) + suffix).read_bytes() for suffix in before} == before
    assert opening.kept_copy and copy.name in opening.problem


@pytest.mark.parametrize("build, chats, messages", [
    (damage.garbage, 0, 0),
    (damage.truncated, 30, 1),
    (damage.garbage_in_pages, 200, 390),
    (damage.truncated_with_journal, 50, 40),
], ids=["garbage", "cut-to-half", "garbage-in-pages", "cut-beside-its-journal"])
def test_a_damaged_file_is_copied_aside_then_what_can_be_read_is_recovered(
        db, build, chats, messages):
    build(db)
    before = damage.snapshot(db)
    store, opening = open_chat_store(db)
    assert opening.saving and "damaged" in opening.problem
    kept_copy_matches(opening, before)
    assert len(store.list_chats()) >= chats and opening.recovered_chats >= chats
    assert opening.recovered_messages >= messages
    if chats:
        assert f"The {opening.recovered_chats} chats" in opening.problem
    else:
        assert "a new, empty chats file was started" in opening.problem
    chat = store.create_chat(title="after the repair")  # the new file takes new chats
    store.add_message(chat.id, parent_id=None, role="user", content="still saving")
    assert store.integrity_ok()
    store.close()
    assert not Path(str(db) + "-wal").exists() and not Path(str(db) + "-shm").exists()
    assert integrity(db) == "ok"
    again, reopened = open_chat_store(db)
    assert reopened == StoreOpening() and "after the repair" in titles(again)
    again.close()


def test_recovered_rows_keep_their_ids_branches_and_text(db):
    damage.garbage_in_pages(db)
    with sqlite3.connect(f"file:{db}?immutable=1", uri=True) as raw:  # what the pages held
        readable = dict(raw.execute("SELECT id, content FROM messages WHERE id < 40"))
    store, _opening = open_chat_store(db)
    for message_id, content in readable.items():
        assert store.message(message_id).content == content
    first = store.list_chats()[-1]
    assert [m.role for m in store.path(first.id)] == ["user", "assistant"]
    assert store.search("lorem") and store.search("dolor")  # the index was built afresh
    store.close()


def test_a_damaged_search_index_is_rebuilt_and_nothing_is_lost(db):
    damage.search_index(db)
    before = damage.snapshot(db)
    store, opening = open_chat_store(db)
    assert opening.saving and "search index" in opening.problem
    assert "nothing was lost" in opening.problem
    kept_copy_matches(opening, before)
    assert len(store.list_chats()) == 30 and opening.recovered_messages == 60
    assert {hit.chat_id for hit in store.search("ipsum")} == {c.id for c in store.list_chats()}
    store.close()


@pytest.mark.parametrize("build, kept, gone", [
    (damage.older_file_newer_journal, "first chat 0", "killed chat 0"),
    (damage.backup_beside_stale_journal, "restored chat 0", "lost chat 0"),
    (damage.foreign_journal, "mine chat 0", "foreign chat 0"),
    (damage.journal_without_file, None, "gone chat 0"),
], ids=["older-file-newer-journal", "backup-beside-stale-journal", "foreign-journal",
        "journal-without-its-file"])
def test_a_journal_that_is_not_the_files_own_is_set_aside(db, build, kept, gone):
    build(db)
    before = damage.snapshot(db)
    store, opening = open_chat_store(db)
    assert opening.saving and "did not belong" in opening.problem
    kept_copy_matches(opening, before)
    assert gone not in titles(store)
    if kept:
        assert kept in titles(store) and before[""] == db.read_bytes()
    else:
        assert store.list_chats() == []
    store.create_chat(title="new")
    store.close()
    assert integrity(db) == "ok" and not Path(str(db) + "-wal").exists()


def test_a_killed_sessions_own_journal_opens_as_usual(db):
    """The journal a kill leaves is the file's own: no copy, no sentence, nothing lost."""
    damage.sound(db, 5, "before")
    damage.killed_session(db, "killed", 5)
    assert Path(str(db) + "-wal").stat().st_size > 0
    store, opening = open_chat_store(db)
    assert opening == StoreOpening()
    assert {"before chat 4", "killed chat 4"} <= titles(store)
    assert not list(db.parent.glob("chats-*"))
    store.close()


def test_a_store_another_connection_holds_open_opens_as_usual(db):
    other = ChatStore(db)
    damage.fill(other, 3, "live")  # not in the main file yet: all in the -wal
    store, opening = open_chat_store(db)
    assert opening == StoreOpening() and "live chat 2" in titles(store)
    damage.fill(other, 1, "later")
    assert "later chat 0" in titles(store)
    store.close()
    other.close()


def test_a_store_another_process_is_writing_into_opens_as_usual_every_time(db):
    """The journal checks read a -wal another process is appending to (and checkpointing):
    never a false alarm, never a copy, never a recovery under the writer's feet."""
    writer = subprocess.Popen([sys.executable, str(Path(__file__).parent / "chats_writer.py"),
                               str(db)], stdout=subprocess.PIPE, text=True)
    try:
        for line in writer.stdout:
            if int(line.split()[1]) >= 20:
                break
        for _ in range(30):
            store, opening = open_chat_store(db)
            assert opening == StoreOpening(), opening.problem
            assert titles(store) == {"Killed mid-answer"}
            store.close()
    finally:
        writer.kill()
        writer.wait(60)
    assert not list(db.parent.glob("chats-*")) and integrity(db) == "ok"


@pytest.mark.parametrize("where", ["file", "folder"])
def test_a_read_only_file_or_folder_keeps_the_chats_readable_and_says_why(
        db, undo_immutable, where):
    damage.sound(db)
    before = db.read_bytes()
    damage.immutable(db if where == "file" else db.parent, undo_immutable)
    store, opening = open_chat_store(db)
    assert not opening.saving
    assert opening.problem.startswith("Chats are not being saved: ")
    expected = f"the folder {db.parent} is read-only" if where == "folder" else \
        f"{db} is read-only"
    assert expected in opening.problem and "restart Scalpel" in opening.problem
    assert "damaged" not in opening.problem and "move it aside" not in opening.problem
    assert len(store.list_chats()) == 30
    chat = store.create_chat(title="kept in memory")  # the chat goes on, unsaved
    store.add_message(chat.id, parent_id=None, role="user", content="hello")
    damage.set_writable(undo_immutable)
    assert db.read_bytes() == before and not list(db.parent.glob("chats-*"))


def test_a_newer_file_is_left_as_it_is(db):
    damage.newer(db)
    before = db.read_bytes()
    store, opening = open_chat_store(db)
    assert not opening.saving
    assert "newer version of Scalpel (schema 99" in opening.problem
    assert "Update Scalpel" in opening.problem
    store.create_chat(title="in memory")
    store.close()
    assert db.read_bytes() == before and not list(db.parent.glob("chats-*"))


@pytest.fixture
def full_disk(db):
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs",
                              str(db.parent)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not root'})")
    filler = db.parent / "filler"

    def fill() -> None:
        descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        for size in (1 << 16, 512, 1):
            try:
                while True:
                    os.write(descriptor, b"\0" * size)
            except OSError:
                pass
        os.close(descriptor)

    yield fill, lambda: filler.unlink(missing_ok=True)
    subprocess.run(["umount", "-l", str(db.parent)], check=False)


def test_a_full_disk_keeps_the_chats_readable_and_says_the_disk_is_full(db, full_disk):
    fill, free = full_disk
    damage.sound(db, 10)
    fill()
    store, opening = open_chat_store(db)
    assert not opening.saving
    assert f"the disk that holds {db.parent} is full" in opening.problem
    assert "free some space" in opening.problem and "damaged" not in opening.problem
    assert len(store.list_chats()) == 10
    store.close()
    free()
    store, opening = open_chat_store(db)
    assert opening == StoreOpening() and len(store.list_chats()) == 10
    store.close()
    assert integrity(db) == "ok"


def test_a_damaged_file_on_a_full_disk_is_not_touched(db, full_disk):
    fill, free = full_disk
    damage.garbage_in_pages(db)
    before = db.read_bytes()
    fill()
    store, opening = open_chat_store(db)
    assert not opening.saving and "no room to keep a copy" in opening.problem
    assert len(store.list_chats()) == 200  # read from the damaged file, into memory
    store.close()
    free()
    assert db.read_bytes() == before and not list(db.parent.glob("chats-*"))


# -- the window and the terminal chat, started as a person starts them -------------------

WINDOW = textwrap.dedent("""
    import json, os, sys
    sys.path.insert(0, os.path.join(os.getcwd(), "tests"))
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from fake_engine import FakeEngine
    from desktop_app import app as app_module
    from desktop_app.cli import main
    from desktop_app.core.services import Services

    Services.new_engine_process = lambda self: FakeEngine(words=2)  # no model needed here
    qapp = QApplication(["scalpel"])
    seen = {}

    def drive():
        windows = [w for w in qapp.topLevelWidgets()
                   if type(w).__name__ == "MainWindow" and w.isVisible()]
        if not windows or windows[0].chat.model is None:  # shown, then its model "loaded"
            QTimer.singleShot(20, drive)
            return
        window = windows[0]
        store = window.bridge.session.store
        badge = window.store_badge
        seen.update(banner=window.errors.message(), chats=len(store.list_chats()),
                    badge=None if badge.isHidden() else badge.text())

        def answered(*_args):
            seen.update(answer="echo hello" in window.view.toPlainText(),
                        chats_after=len(store.list_chats()), banner_after=window.errors.message())
            window.close()
            qapp.quit()

        window.bridge.reply_finished.connect(answered)
        window.panel.send("hello")

    app_module.on_window_shown.append(drive)
    for home in sys.argv[1:]:
        os.environ["SCALPEL_HOME"] = home
        seen.clear()
        QTimer.singleShot(30_000, qapp.quit)  # never hang the test
        code = main([])
        print("CASE " + json.dumps({"home": home, "exit": code, **seen}), flush=True)
""")

WINDOW_CASES = {  # builder, what the error bar says, the badge, chats shown
    "garbage": (damage.garbage, "a new, empty chats file was started", "Chats recovered", 0),
    "garbage-in-pages": (damage.garbage_in_pages, "The 200 chats", "Chats recovered", 200),
    "cut-beside-its-journal": (damage.truncated_with_journal, "Your chats file was damaged",
                               "Chats recovered", 50),
    "read-only-folder": (damage.sound, "Chats are not being saved: the folder",
                         "⚠ Chats not saved", 30),
    "newer": (damage.newer, "newer version of Scalpel", "⚠ Chats not saved", 0),
    "backup-beside-stale-journal": (damage.backup_beside_stale_journal, "did not belong",
                                    "Chats recovered", 15),
}


def test_the_window_always_opens_says_what_happened_and_chats(tmp_path, undo_immutable):
    homes = {}
    for name, (build, *_expected) in WINDOW_CASES.items():
        data = tmp_path / name / "data"
        (data / "models").mkdir(parents=True)
        build(data / "chats.sqlite3")
        if name == "read-only-folder":
            damage.immutable(data, undo_immutable)
        homes[str(tmp_path / name)] = name
    result = subprocess.run([sys.executable, "-c", WINDOW, *homes], capture_output=True,
                            text=True, timeout=300, cwd=Path(__file__).parent.parent,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    cases = [json.loads(line[5:]) for line in result.stdout.splitlines()
             if line.startswith("CASE ")]
    assert [homes[case["home"]] for case in cases] == list(WINDOW_CASES)
    for case in cases:
        _build, says, badge, chats = WINDOW_CASES[homes[case["home"]]]
        assert case["exit"] == 0, case
        assert says in case["banner"] and case["badge"] == badge, case
        assert case["chats"] >= chats and case["answer"], case  # old chats shown; it chats
        assert case["chats_after"] == case["chats"] + 1, case
        assert says in case["banner_after"], case  # still there after the model loaded
    damage.set_writable(undo_immutable)
    for home, name in homes.items():
        store_file = Path(home) / "data" / "chats.sqlite3"
        if name not in ("read-only-folder", "newer"):
            assert integrity(store_file) == "ok", name


@pytest.mark.model
def test_scalpel_chat_says_it_in_one_line_and_answers(tmp_path, scalpel, undo_immutable):
    for name, build, says in (("damaged", damage.garbage_in_pages, "Your chats file was damaged"),
                              ("read-only", damage.sound, "Chats are not being saved: the "
                                                          "folder")):
        data = tmp_path / name / "data"
        (data / "models").mkdir(parents=True)
        build(data / "chats.sqlite3")
        if name == "read-only":
            damage.immutable(data, undo_immutable)
        result = scalpel("chat", "--max-tokens", "3", "--temperature", "0", "Say hi",
                         env={"SCALPEL_HOME": str(tmp_path / name)})
        assert result.returncode == 0 and result.stdout.strip(), result.stderr
        notes = [line for line in result.stderr.splitlines() if line.startswith("scalpel:")]
        assert len(notes) == 1 and says in notes[0], result.stderr
        assert "Traceback" not in result.stderr


def test_chats_are_imported_from_a_kept_copy_and_nothing_appears_beside_it(db, tmp_path):
    """Chat ▸ Import chats… reads a chats file (the copy kept of a damaged one, an old
    chats.sqlite3): its readable chats are added as new ones; the file is only read."""
    from desktop_app.core.chats.transfer import import_chats_file

    damage.garbage_in_pages(db)
    recovered, opening = open_chat_store(db)
    copy = Path(opening.kept_copy)
    beside = sorted(copy.parent.iterdir())
    elsewhere = ChatStore(tmp_path / "elsewhere.sqlite3")
    added = import_chats_file(elsewhere, copy)
    assert len(added) == opening.recovered_chats == 200
    assert sum(c.message_count for c in elsewhere.list_chats()) == opening.recovered_messages
    assert sorted(copy.parent.iterdir()) == beside  # no -wal or -shm left beside the copy
    assert elsewhere.integrity_ok()
    with pytest.raises(Exception, match="Scalpel is using"):
        import_chats_file(recovered, db)
    recovered.close()
    elsewhere.close()


def test_chat_menu_import_takes_a_chats_file_and_reports_a_bad_one(qtbot, db, tmp_path):
    from PySide6.QtWidgets import QWidget

    from desktop_app.ui.chat_files import ChatFiles

    damage.sound(db, 3, "kept")
    store = ChatStore(tmp_path / "live.sqlite3")
    parent = QWidget()
    qtbot.addWidget(parent)
    reported: list[str] = []
    files = ChatFiles(parent, store, report=reported.append)
    assert len(files.import_file(str(db))) == 3 and not reported
    assert {c.title for c in store.list_chats()} == {"kept chat 0", "kept chat 1", "kept chat 2"}
    damage.garbage(db)
    db.write_bytes(b"SQLite format 3\x00" + db.read_bytes()[16:])  # the magic, then noise
    assert files.import_file(str(db)) == []
    assert reported == ["chats.sqlite3: no chat could be read from it."]
    store.close()


def test_a_store_locked_by_another_program_is_not_taken_for_damage(db, monkeypatch):
    from desktop_app.core.chats import health, store as store_module

    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 200)  # not 10 s of waiting here
    monkeypatch.setattr(health, "READ_TIMEOUT_S", 0.2)
    damage.sound(db, 3)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        store, opening = open_chat_store(db)
        assert not opening.saving and "held locked by another program" in opening.problem
        assert "damaged" not in opening.problem and not list(db.parent.glob("chats-*"))
        store.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store, opening = open_chat_store(db)
    assert opening == StoreOpening() and len(store.list_chats()) == 3
    store.close()


def test_whatever_goes_wrong_the_store_opens_in_memory_with_a_sentence(db, monkeypatch):
    from desktop_app.core.chats import opening as opening_module

    def broken(_path):
        raise RuntimeError("a bug")

    monkeypatch.setattr(opening_module, "diagnose", broken)
    store, opening = open_chat_store(db)
    assert not opening.saving and "could not be opened (RuntimeError" in opening.problem
    assert store.create_chat(title="in memory").title == "in memory"
    assert StoreOpening.from_dict(opening.to_dict()) == opening


@pytest.mark.parametrize("cut", [False, True], ids=["whole", "cut-to-half"])
def test_a_chat_kept_on_this_computer_stays_kept_after_a_salvage(db, cut):
    """Keep-local is a privacy promise: a repaired file must not drop it (the page scan
    reads rows with and without the column a migration added)."""
    store = ChatStore(db)
    damage.fill(store, 40, "old")
    kept = [chat.id for chat in store.list_chats()[::3]]
    for chat_id in kept:
        store.set_keep_local(chat_id, True)
    store.close()
    if cut:
        os.truncate(db, db.stat().st_size // 2)
    target = ChatStore(Path(":memory:"))
    salvage(db, target, with_journal=False)
    survived = [chat.id for chat in target.list_chats()]
    assert survived
    for chat_id in survived:
        assert target.keep_local(chat_id) == (chat_id in kept), chat_id
    target.close()
