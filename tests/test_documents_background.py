"""The indexer on its worker: progress as plain data, pause, resume, cancel, a rerun
asked for mid-run, and the folder watcher that notices changes by itself."""

from __future__ import annotations

import threading
import time

from desktop_app.core.documents import (BackgroundIndexer, FolderWatcher, IndexStore, Indexer,
                                        IndexProgress, readers)
from document_files import make_small_files


def _setup(tmp_path, count):
    folder = tmp_path / "notes"
    make_small_files(folder, count)
    store = IndexStore(tmp_path / "index.sqlite3")
    cid = store.ensure_collection("c")
    store.add_folder(cid, str(folder))
    return store, cid, folder


def _slow(delay, gate=None):
    def load(path):
        if gate is not None:
            gate.wait(10)
        time.sleep(delay)
        return readers.load_bytes(path)
    return load


def _wait(condition, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_progress_events_are_plain_data_with_rates_and_time_left(tmp_path):
    store, cid, _ = _setup(tmp_path, 20)
    events: list[IndexProgress] = []
    Indexer(store, load=_slow(0.005)).run(on_progress=events.append)
    reading = [e for e in events if e.phase == "reading"]
    assert [e.files_done for e in reading] == list(range(1, 21))
    assert all(e.files_total == 20 for e in reading)
    assert reading[-1].chunks == 20 and reading[-1].chunks_per_second > 0
    assert reading[0].seconds_left > 0 and reading[-1].seconds_left == 0
    assert reading[5].fraction == 6 / 20
    assert IndexProgress.from_dict(reading[3].to_dict()) == reading[3]
    assert events[-1].phase == "done"


def test_pause_resume_and_cancel(tmp_path):
    store, cid, _ = _setup(tmp_path, 40)
    progress: list[IndexProgress] = []
    done = []
    worker = BackgroundIndexer(Indexer(store, load=_slow(0.01)), on_progress=progress.append,
                               on_done=done.append)
    worker.request()
    assert _wait(lambda: any(p.files_done >= 3 for p in progress))
    worker.pause()
    time.sleep(0.1)
    paused_at = len(store.files(cid))
    time.sleep(0.3)
    assert len(store.files(cid)) == paused_at and worker.paused and worker.running
    worker.resume()
    assert _wait(lambda: len(store.files(cid)) > paused_at + 2)
    worker.cancel()
    assert worker.join(10)
    assert done and done[-1].cancelled
    kept = len(store.files(cid))
    assert 0 < kept < 40
    # a new run finishes the rest only
    worker.request()
    assert worker.join(10)
    assert done[-1].files_read == 40 - kept and len(store.files(cid)) == 40


def test_cancel_while_paused_stops(tmp_path):
    store, cid, _ = _setup(tmp_path, 10)
    worker = BackgroundIndexer(Indexer(store, load=_slow(0.01)))
    worker.request()
    worker.pause()
    worker.cancel()
    assert worker.join(5)


def test_a_request_during_a_run_runs_once_more(tmp_path):
    store, cid, folder = _setup(tmp_path, 5)
    gate = threading.Event()
    reports = []
    worker = BackgroundIndexer(Indexer(store, load=_slow(0, gate)), on_done=reports.append)
    worker.request()
    (folder / "late.md").write_text("arrived late\n", encoding="utf-8")
    worker.request()
    worker.request()                          # several requests: one more run
    gate.set()
    assert _wait(lambda: len(reports) == 2)
    assert worker.join(5)
    assert len(reports) == 2
    assert any(p.endswith("late.md") for p in store.files(cid))


def test_folder_watcher_notices_new_changed_and_deleted_files(tmp_path):
    folder = tmp_path / "notes"
    paths = make_small_files(folder, 5)
    changes = []
    watcher = FolderWatcher(lambda: [str(folder)], lambda: changes.append(1), interval=0.05)
    watcher.start()
    try:
        time.sleep(0.15)
        assert changes == []                  # nothing changed, nothing reported
        (folder / "added.md").write_text("new\n", encoding="utf-8")
        assert _wait(lambda: len(changes) == 1, 5)
        paths[0].unlink()
        assert _wait(lambda: len(changes) == 2, 5)
        (folder / "picture.png").write_bytes(b"not a document")
        time.sleep(0.2)
        assert len(changes) == 2              # not a document: no rescan
    finally:
        watcher.stop()


def test_watcher_drives_the_background_indexer(tmp_path):
    store, cid, folder = _setup(tmp_path, 3)
    worker = BackgroundIndexer(Indexer(store))
    worker.request()
    worker.join(10)
    watcher = FolderWatcher(lambda: store.folders(cid), worker.request, interval=0.05).start()
    try:
        (folder / "fresh.md").write_text("kiwi orchard\n", encoding="utf-8")
        assert _wait(lambda: any(p.endswith("fresh.md") for p in store.files(cid)))
    finally:
        watcher.stop()
        worker.close()
