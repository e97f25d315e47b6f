"""The index on real files: problems never block, incremental rescans read only what
changed, renames and deletions leave nothing stale, a killed run resumes where it
stopped and ends as a clean run would, and vectors of two models never mix."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.core.documents import IndexStore, Indexer, readers
from desktop_app.core.errors import EngineError
from document_files import bump_mtime, make_mixed_folder, make_small_files
from fake_engine import FakeEngine

TESTS = Path(__file__).parent


class CountingLoad:
    def __init__(self):
        self.paths: list[str] = []

    def __call__(self, path):
        self.paths.append(path)
        return readers.load_bytes(path)


def _store(tmp_path, folder, *, model=None, name="c"):
    store = IndexStore(tmp_path / "index.sqlite3")
    cid = store.ensure_collection(name, embedding_model=model)
    store.add_folder(cid, str(folder))
    return store, cid


def _fts_ids(db_path, word):
    with sqlite3.connect(db_path) as db:
        db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')")
        return [r[0] for r in db.execute("SELECT rowid FROM chunks_fts WHERE chunks_fts "
                                         "MATCH ?", (f'"{word}"',))]


def _state(store, cid):
    """Everything a search can see: path -> (status, problem kind, chunk texts)."""
    return {Path(p).name: (row.status, row.problem.kind if row.problem else None,
                           tuple(c.text for c in store.file_chunks(row.id)))
            for p, row in store.files(cid).items()}


def test_every_problem_is_recorded_and_the_rest_indexed(tmp_path):
    make_mixed_folder(tmp_path / "docs")
    os.symlink(tmp_path / "nowhere.txt", tmp_path / "docs" / "dangling.txt")
    store, cid = _store(tmp_path, tmp_path / "docs")
    report = Indexer(store).run()
    rows = {Path(p).name: row for p, row in store.files(cid).items()}
    kinds = {name: row.problem.kind for name, row in rows.items() if row.problem}
    assert kinds == {"scan.pdf": "scanned", "locked.pdf": "encrypted", "empty.txt": "empty",
                     "photo.txt": "binary", "old.doc": "unsupported",
                     "dangling.txt": "unreadable"}
    indexed = {name for name, row in rows.items() if row.status == "indexed"}
    assert indexed == {"manual.pdf", "guide.docx", "notes.md", "readme.rst", "page.html",
                       "plain.txt"}
    assert rows["manual.pdf"].pages == 3
    assert len(report.problems) == 6 and report.files_parsed == 6
    assert all(str(p) for p in report.problems)


def test_rescan_reads_only_changed_files(tmp_path):
    folder = tmp_path / "notes"
    paths = make_small_files(folder, 30)
    store, cid = _store(tmp_path, folder)
    first = CountingLoad()
    Indexer(store, load=first).run()
    assert len(first.paths) == 30

    again = CountingLoad()
    report = Indexer(store, load=again).run()
    assert again.paths == [] and report.files_parsed == 0

    paths[3].write_text("# Note 3\n\nrewritten with zebra\n", encoding="utf-8")
    bump_mtime(paths[3])
    bump_mtime(paths[4])                     # touched, same content
    (folder / "new.md").write_text("brand new aardvark\n", encoding="utf-8")
    counted = CountingLoad()
    report = Indexer(store, load=counted).run()
    assert sorted(Path(p).name for p in counted.paths) == ["new.md", "note0003.md",
                                                          "note0004.md"]
    assert report.files_parsed == 2          # the touched file was hashed, not parsed
    assert _fts_ids(store.path, "zebra") and not _fts_ids(store.path, "marker3")


def test_delete_and_rename_leave_no_stale_passages(tmp_path):
    folder = tmp_path / "notes"
    paths = make_small_files(folder, 10)
    store, cid = _store(tmp_path, folder, model="fake-embed")
    engine = FakeEngine()
    Indexer(store, engine=engine).run()
    before = {p: row for p, row in store.files(cid).items()}
    renamed = folder / "renamed.md"
    paths[5].rename(renamed)
    paths[6].unlink()
    counted = CountingLoad()
    report = Indexer(store, engine=engine, load=counted).run()
    assert report.files_renamed == 1 and report.files_removed == 1
    assert report.files_parsed == 0 and report.chunks_embedded == 0  # kept, not redone
    rows = store.files(cid)
    assert str(paths[5]) not in rows and str(paths[6]) not in rows
    assert rows[str(renamed)].id == before[str(paths[5])].id
    assert not _fts_ids(store.path, "marker6")
    assert len(_fts_ids(store.path, "marker5")) == 1
    with sqlite3.connect(store.path) as db:
        orphans = db.execute("SELECT count(*) FROM chunks WHERE file_id NOT IN "
                             "(SELECT id FROM files)").fetchone()[0]
        stale_vectors = db.execute("SELECT count(*) FROM vectors WHERE chunk_id NOT IN "
                                   "(SELECT id FROM chunks)").fetchone()[0]
    assert orphans == 0 and stale_vectors == 0
    # a removed folder takes its files along
    assert store.remove_folder(cid, str(folder))
    assert store.files(cid) == {} and not _fts_ids(store.path, "marker1")


def test_two_renamed_copies_of_one_file(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    for name in ("a.md", "b.md"):
        (folder / name).write_text("same words\n", encoding="utf-8")
    store, cid = _store(tmp_path, folder)
    Indexer(store).run()
    (folder / "a.md").rename(folder / "c.md")
    (folder / "b.md").unlink()
    Indexer(store).run()
    assert [Path(p).name for p in store.files(cid)] == ["c.md"]
    assert len(_fts_ids(store.path, "same")) == 1


def test_killed_indexing_resumes_where_it_stopped(tmp_path):
    folder = tmp_path / "notes"
    make_small_files(folder, 200)
    index = tmp_path / "killed.sqlite3"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    child = subprocess.Popen([sys.executable, str(TESTS / "documents_kill_child.py"),
                              str(index), str(folder)], stdout=subprocess.PIPE, text=True,
                             env=env)
    try:
        reads = 0
        for line in child.stdout:
            reads += line.startswith("read ")
            if reads == 60:
                child.send_signal(signal.SIGKILL)
                break
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL

    store = IndexStore(index)
    cid = store.collection("notes").id
    done = len(store.files(cid))
    assert 50 <= done <= 60                  # what was committed before the kill stays
    counted = CountingLoad()
    Indexer(store, load=counted).run()
    assert len(counted.paths) == 200 - done  # continued, did not start over

    clean, clean_id = _store(tmp_path / "clean", folder, name="notes")
    Indexer(clean).run()
    assert _state(store, cid) == _state(clean, clean_id)
    _fts_ids(index, "marker1")               # the FTS index matches its chunks


class CountingEngine(FakeEngine):
    def __init__(self):
        super().__init__()
        self.calls: list[tuple[int, str | None]] = []

    def embed(self, texts, *, model=None):
        self.calls.append((len(texts), model))
        return super().embed(texts, model=model)


def test_embeddings_in_batches_with_prefix_and_model_switch(tmp_path):
    folder = tmp_path / "notes"
    make_small_files(folder, 12)
    store, cid = _store(tmp_path, folder, model="model-a")
    engine = CountingEngine()
    seen = []
    indexer = Indexer(store, engine=engine, batch_size=5,
                      resolve_model=lambda m: f"/models/{m}.gguf",
                      prefixes=lambda m: ("q: ", "passage: "))
    original = engine.embed
    engine.embed = lambda texts, model=None: (seen.extend(texts), original(texts, model=model))[1]
    report = indexer.run()
    assert report.chunks_embedded == 12
    assert [n for n, _ in engine.calls] == [5, 5, 2]
    assert {m for _, m in engine.calls} == {"/models/model-a.gguf"}
    assert all(t.startswith("passage: ") for t in seen)
    assert store.collection("c").embedded == 12

    store.set_embedding_model("c", "model-b")
    engine.calls.clear()
    assert indexer.run().chunks_embedded == 12   # switching re-embeds everything
    with sqlite3.connect(store.path) as db:
        models = {r[0] for r in db.execute("SELECT model FROM vectors")}
    assert models == {"model-b"}                 # never two models' vectors side by side


def test_a_failing_embedding_model_leaves_words_search(tmp_path):
    folder = tmp_path / "notes"
    make_small_files(folder, 3)
    store, cid = _store(tmp_path, folder, model="broken")
    engine = FakeEngine()
    engine.embed = lambda texts, model=None: (_ for _ in ()).throw(
        EngineError("llama.cpp could not open broken.gguf for embeddings"))
    report = Indexer(store, engine=engine).run()
    assert "broken.gguf" in report.embedding_error
    assert report.files_parsed == 3 and store.collection("c").chunks == 3


def test_newer_index_file_is_refused(tmp_path):
    path = tmp_path / "index.sqlite3"
    IndexStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(sqlite3.DatabaseError, match="newer Scalpel"):
        IndexStore(path)


def test_an_unreachable_folder_keeps_its_index_until_it_is_back(tmp_path):
    folder = tmp_path / "share"
    make_small_files(folder, 4)
    store, cid = _store(tmp_path, folder)
    Indexer(store).run()
    folder.rename(tmp_path / "away")                 # an unplugged drive, a lost share
    report = Indexer(store).run()
    rows = store.files(cid)
    assert report.files_removed == 0 and len(rows) == 5
    assert rows[str(folder)].problem.kind == "unreadable"
    (tmp_path / "away").rename(folder)
    counted = CountingLoad()
    Indexer(store, load=counted).run()
    assert counted.paths == []                       # nothing to read again
    assert len(store.files(cid)) == 4 and str(folder) not in store.files(cid)


def test_a_collection_of_2000_small_files(tmp_path):
    from desktop_app.core.documents import DocumentSearch

    folder = tmp_path / "many"
    make_small_files(folder, 2000, words=20)
    store, cid = _store(tmp_path, folder)
    report = Indexer(store).run()
    assert report.files_parsed == 2000 and report.problems == ()
    assert store.collection("c").chunks == 2000
    counted = CountingLoad()
    Indexer(store, load=counted).run()
    assert counted.paths == []
    hit = DocumentSearch(store).search("marker1234")[0]
    assert hit.file.endswith("note1234.md") and hit.heading == "Note 1234"


def test_a_deleted_file_is_gone_before_the_changed_ones_are_read(tmp_path):
    folder = tmp_path / "notes"
    paths = make_small_files(folder, 4)
    store, cid = _store(tmp_path, folder)
    Indexer(store).run()
    paths[0].unlink()
    paths[1].write_text("# changed\n\nnew words\n", encoding="utf-8")
    bump_mtime(paths[1])
    seen_during_read = []

    def load(path):
        seen_during_read.append(str(paths[0]) in store.files(cid))
        return readers.load_bytes(path)

    Indexer(store, load=load).run()
    assert seen_during_read == [False]
