"""The chat store: migrations, branches, search, export/import, and surviving a kill."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.core.chats import ChatStore, ChatStoreError, SearchHit
from desktop_app.core.chats.schema import LATEST_VERSION, MIGRATIONS
from desktop_app.core.chats.transfer import (export_all, export_json, export_markdown,
                                             import_all, import_json)

WRITER = Path(__file__).with_name("chats_writer.py")


@pytest.fixture
def store(tmp_path) -> ChatStore:
    return ChatStore(tmp_path / "chats.sqlite3")


def add(store, chat, parent, role, text, **kw):
    return store.add_message(chat.id, parent_id=parent.id if parent else None, role=role,
                             content=text, **kw)


def test_a_new_database_gets_every_migration_and_wal(store):
    assert store.schema_version == LATEST_VERSION == 4
    with sqlite3.connect(store.file) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_version_1_database_is_upgraded_and_its_messages_become_searchable(tmp_path):
    path = tmp_path / "old.sqlite3"
    raw = sqlite3.connect(path)
    raw.executescript(MIGRATIONS[0][1] + "PRAGMA user_version = 1;")
    raw.execute("INSERT INTO chats (id, title, created_at, updated_at, current_leaf_id) "
                "VALUES (1, 'Old', 1, 1, 1)")
    raw.execute("INSERT INTO messages (id, chat_id, role, content, created_at) "
                "VALUES (1, 1, 'user', 'the ancient lighthouse', 1)")
    raw.commit()
    raw.close()
    store = ChatStore(path)
    assert store.schema_version == LATEST_VERSION
    assert [m.content for m in store.path(1)] == ["the ancient lighthouse"]
    assert [hit.chat_id for hit in store.search("lighthouse")] == [1]


def test_newer_and_foreign_files_are_refused_with_their_path(tmp_path):
    newer = tmp_path / "newer.sqlite3"
    sqlite3.connect(newer).execute("PRAGMA user_version = 99").connection.close()
    with pytest.raises(ChatStoreError, match="newer Scalpel"):
        ChatStore(newer)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ChatStoreError, match="junk.sqlite3"):
        ChatStore(junk)


def test_chats_are_listed_newest_first_renamed_and_deleted_with_their_messages(store):
    old = store.create_chat(title="Old")
    new = store.create_chat(title="New")
    add(store, old, None, "user", "bump")  # activity moves a chat to the top
    assert [c.title for c in store.list_chats()] == ["Old", "New"]
    store.rename_chat(new.id, "  Renamed ")
    assert store.get_chat(new.id).title == "Renamed"
    with pytest.raises(ChatStoreError):
        store.rename_chat(new.id, " ")
    store.delete_chat(old.id)
    assert [c.id for c in store.list_chats()] == [new.id]
    assert store.search("bump") == []


def test_regenerate_and_edit_branches_stay_reachable(store):
    chat = store.create_chat()
    u1 = add(store, chat, None, "user", "q1")
    a1 = add(store, chat, u1, "assistant", "a1")
    a1b = add(store, chat, u1, "assistant", "a1 again")          # regenerate
    assert [m.content for m in store.path(chat.id)] == ["q1", "a1 again"]
    assert [m.id for m in store.siblings(a1b.id)] == [a1.id, a1b.id]
    u1b = add(store, chat, None, "user", "q1 edited")             # edit the first question
    add(store, chat, u1b, "assistant", "a2")
    assert [m.content for m in store.path(chat.id)] == ["q1 edited", "a2"]
    assert [m.content for m in store.switch_to(u1.id)] == ["q1", "a1 again"]
    assert [m.content for m in store.switch_to(a1.id)] == ["q1", "a1"]
    assert [m.content for m in store.switch_to(u1b.id)] == ["q1 edited", "a2"]


def test_deleting_a_message_takes_its_followers_and_shows_the_nearest_branch(store):
    chat = store.create_chat()
    u1 = add(store, chat, None, "user", "q1")
    a1 = add(store, chat, u1, "assistant", "a1")
    u2 = add(store, chat, a1, "user", "q2")
    add(store, chat, u2, "assistant", "a2")
    store.delete_message(u2.id)
    assert [m.content for m in store.path(chat.id)] == ["q1", "a1"]
    assert store.search("a2") == [] and store.search("q2") == []
    store.delete_message(u1.id)
    assert store.path(chat.id) == [] and store.get_chat(chat.id).message_count == 0


def test_search_finds_words_safely(store):
    chat = store.create_chat(title="Cooking")
    add(store, chat, None, "user", 'How do I caramelize onions in C++ "quickly"?')
    other = store.create_chat(title="Other")
    add(store, other, None, "user", "nothing here")
    hit, = store.search("caramelize")
    assert (hit.chat_id, hit.chat_title, hit.role) == (chat.id, "Cooking", "user")
    assert ("caramelize", True) in hit.parts() and "caramelize" in hit.snippet
    for odd in ("C++", '"', "NEAR(", "AND", "-onions", "*"):
        store.search(odd)  # never raises
    assert store.search("   ") == []
    assert [h.chat_id for h in store.search("ONIONS")] == [chat.id]  # case-insensitive
    assert [h.chat_id for h in store.search("carameli")] == [chat.id]  # word beginnings


def test_search_marks_only_the_matches_whatever_the_message_holds(store):
    chat = store.create_chat(title="Arrays")
    add(store, chat, None, "user", "Why is arr[0] empty? See <b>x]y[z</b>.")
    hit, = store.search("empty")
    assert [text for text, matched in hit.parts() if matched] == ["empty"]
    assert hit.snippet == "Why is arr[0] empty? See <b>x]y[z</b>."
    # A message holding the markers themselves still gets exact matches.
    add(store, chat, None, "assistant", "bytes \x02 and \x03 then quasar \ue000 end")
    hit, = store.search("quasar")
    assert hit.snippet == "bytes \x02 and \x03 then quasar \ue000 end"
    assert [hit.snippet[a:b] for a, b in hit.matches] == ["quasar"]
    assert SearchHit.from_dict(hit.to_dict()) == hit


def test_search_follows_edits_of_a_streaming_answer(store):
    chat = store.create_chat()
    answer = add(store, chat, None, "assistant", "", status="partial")
    store.update_message(answer.id, content="the aurora appeared", status="partial")
    assert [h.message_id for h in store.search("aurora")] == [answer.id]
    store.update_message(answer.id, content="it was cloudy", status="complete")
    assert store.search("aurora") == [] and store.message(answer.id).finished_at


def test_export_markdown_and_json_round_trip(store, tmp_path):
    chat = store.create_chat(title="Trip", preset_id="general", model="m.gguf")
    u1 = add(store, chat, None, "user", "Where to?")
    add(store, chat, u1, "assistant", "Lisbon", model="Qwen", stats={"reason": "stop"})
    add(store, chat, u1, "assistant", "Porto", model="Qwen", status="partial")
    text = export_markdown(store, chat.id)
    assert text.startswith("# Trip\n") and "**You:**" in text and "**Qwen:**" in text
    assert "Porto" in text and "*(interrupted)*" in text and "Lisbon" not in text
    data = export_json(store, chat.id)
    other = ChatStore(tmp_path / "other.sqlite3")
    copy = import_json(other, data)
    again = export_json(other, copy.id)
    assert again["chat"] == data["chat"]
    strip = lambda d: [{k: v for k, v in m.items() if k not in ("id", "parent_id")}  # noqa: E731
                       for m in d["messages"]]
    assert strip(again) == strip(data)
    assert [m.content for m in other.path(copy.id)] == ["Where to?", "Porto"]
    assert len(other.siblings(other.path(copy.id)[-1].id)) == 2


@pytest.mark.parametrize("bad, words", [
    ({"format": "x"}, "not a Scalpel chat"),
    ({"format": "scalpel-chat", "version": 9}, "version 9"),
    ({"format": "scalpel-chat", "version": 1, "chat": {"title": "T"},
      "messages": [{"id": 1, "role": "robot", "content": "", "created_at": 1}]}, "unknown role"),
    ({"format": "scalpel-chat", "version": 1, "chat": {"title": "T"},
      "messages": [{"id": 2, "parent_id": 1, "role": "user", "content": "x",
                    "created_at": 1}]}, "out of order"),
])
def test_bad_imports_change_nothing(store, bad, words):
    with pytest.raises(ChatStoreError, match=words):
        import_json(store, bad)
    assert store.list_chats() == []


def test_backup_of_everything_round_trips(store, tmp_path):
    for title in ("One", "Two"):
        chat = store.create_chat(title=title)
        add(store, chat, None, "user", f"hello {title}")
    backup = export_all(store)
    fresh = ChatStore(tmp_path / "fresh.sqlite3")
    assert [c.title for c in import_all(fresh, backup)] == ["One", "Two"]
    assert {c.title for c in fresh.list_chats()} == {"One", "Two"}
    with pytest.raises(ChatStoreError):
        import_all(fresh, {"format": "scalpel-backup", "chats": [{"format": "nope"}]})
    assert len(fresh.list_chats()) == 2


def test_two_windows_on_one_file_both_write_and_read(tmp_path):
    first, second = ChatStore(tmp_path / "c.sqlite3"), ChatStore(tmp_path / "c.sqlite3")
    a = first.create_chat(title="From one")
    b = second.create_chat(title="From two")
    add(first, b, None, "user", "written by the first into the second's chat")
    assert {c.title for c in second.list_chats()} == {"From one", "From two"}
    assert [m.content for m in second.path(b.id)] == ["written by the first into the second's chat"]
    assert first.integrity_ok() and second.integrity_ok() and a.id != b.id


@pytest.mark.parametrize("kill_after", [5, 40])
def test_a_killed_writer_leaves_a_clean_store_and_a_marked_partial_answer(tmp_path, kill_after):
    path = tmp_path / "killed.sqlite3"
    child = subprocess.Popen([sys.executable, str(WRITER), str(path)], stdout=subprocess.PIPE,
                             text=True)
    try:
        for line in child.stdout:  # waits as long as the writer needs; no timing assumed
            if int(line.split()[1]) >= kill_after:
                break
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(60)
    assert child.returncode == -signal.SIGKILL
    store = ChatStore(path)
    assert store.integrity_ok()
    chat, = store.list_chats()
    path_now = store.path(chat.id)
    assert [m.status for m in path_now] == ["complete", "complete", "complete", "partial"]
    partial, = store.interrupted(chat.id)
    assert partial.id == path_now[-1].id
    words = partial.content.split()
    assert len(words) >= kill_after and words == [f"word{n}" for n in range(1, len(words) + 1)]


def test_deleted_words_are_gone_from_the_files(tmp_path):
    """A deleted chat or message leaves no readable trace in the file, its journal or the
    search index's older segments."""
    store = ChatStore(tmp_path / "chats.sqlite3")
    for i in range(30):
        chat = store.create_chat(title=f"c{i}")
        store.add_message(chat.id, parent_id=None, role="user",
                          content=f"question {i} " + "lorem ipsum dolor " * 40)
    secret = store.create_chat(title="private")
    store.add_message(secret.id, parent_id=None, role="user", content="zebracorn hunter2")
    other = store.create_chat(title="keep")
    kept = store.add_message(other.id, parent_id=None, role="user", content="fine words")
    note = store.add_message(other.id, parent_id=kept.id, role="assistant",
                             content="quokkaphant passcode")
    for i in range(10):
        later = store.create_chat(title=f"d{i}")
        store.add_message(later.id, parent_id=None, role="user", content=f"later {i} " * 30)
    store.delete_chat(secret.id)
    store.delete_message(note.id)
    assert [hit.chat_id for hit in store.search("fine")] == [other.id]
    store.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    for word in (b"zebracorn", b"hunter2", b"quokkaphant", b"passcode"):
        assert word not in data, word
