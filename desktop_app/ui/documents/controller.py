"""The window's one handle on the documents index: indexing, watching, store changes.

One ``DocumentsController`` per main window. It owns what the Documents window and the
chat's documents bar share: the index store, the ``BackgroundIndexer`` (its own worker,
"scalpel-documents"), the ``FolderWatcher`` (its own polling thread) and a one-thread
executor ("scalpel-documents-ui") for everything else that touches the store: listing
collections and files, adding and removing folders. SQLite work is short, but the store
is shared with the indexer's transactions and a listing of 2,000 files with its vector
counts is not free, so the GUI thread never waits on it. Callbacks from those threads
arrive as Qt signals, queued to the GUI thread.

Indexing resumes at start: the first run walks every collection and the indexer reads
only the files whose stored state differs from the disk, so a run the app was closed or
killed in goes on where it stopped.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from PySide6.QtCore import QObject, Signal, Slot

from ...core.documents import (BackgroundIndexer, CollectionInfo, FileRow, FolderWatcher,
                               IndexProgress, IndexReport, IndexStore, Indexer,
                               documents_refusal)
from ...core.documents.embedding import catalog_prefixes, registry_resolver

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listing:
    """The collections and their files, read on the executor for the widgets."""
    collections: tuple[CollectionInfo, ...] = ()
    files: dict[str, tuple[FileRow, ...]] = field(default_factory=dict)  # by collection name

    def collection(self, name: str) -> CollectionInfo | None:
        return next((c for c in self.collections if c.name == name), None)


def open_store(services) -> tuple[IndexStore, bool]:
    """The process's documents store (``Services.documents_store`` once it exists), and
    whether it was opened here (then this controller closes it)."""
    store = getattr(services, "documents_store", None)
    return (store, False) if store is not None else (IndexStore.open(services.paths), True)


class DocumentsController(QObject):
    progress = Signal(object)      # IndexProgress, on the GUI thread
    finished = Signal(object)      # IndexReport of a run (or of its last rerun)
    failed = Signal(str)           # a run that stopped on an error, as a sentence
    listed = Signal(object)        # Listing
    _call = Signal(object, object)  # (callback, Future): executor results to the GUI thread

    def __init__(self, services, engine, *, watch_interval: float = 5.0,
                 opened: tuple[IndexStore, bool] | None = None,
                 parent: QObject | None = None) -> None:
        """``opened``: the store (and whether this controller owns it) if already open."""
        super().__init__(parent)
        self.services = services
        self.refusal = documents_refusal(services.policy)  # documents off: None of the rest
        self.listing = Listing()
        self.last_progress: IndexProgress | None = None
        self._closed = False
        self._list_pending = self._list_running = False
        self._call.connect(self._deliver)
        self._jobs = ThreadPoolExecutor(1, thread_name_prefix="scalpel-documents-ui")
        self.store: IndexStore | None = None
        self.background: BackgroundIndexer | None = None
        self.watcher: FolderWatcher | None = None
        if self.refusal:
            return
        self.store, self._owns_store = opened or open_store(services)
        indexer = Indexer(self.store, engine=engine, policy=services.policy,
                          resolve_model=registry_resolver(services.models.resolve),
                          prefixes=catalog_prefixes(services.catalog))
        self.background = BackgroundIndexer(indexer, on_progress=self.progress.emit,
                                            on_done=self.finished.emit)
        self.progress.connect(self._on_progress)
        self.finished.connect(self._on_finished)
        self.watcher = FolderWatcher(self._roots, self._folders_changed,
                                     interval=watch_interval)

    @property
    def enabled(self) -> bool:
        return self.store is not None

    def start(self) -> None:
        """Watch the folders, resume any interrupted run, list what is there."""
        if not self.enabled or self._closed:
            return
        self.submit(self._start_watching)
        self.request()
        self.refresh()

    def _start_watching(self) -> None:
        if not self._closed:
            self.watcher.start()   # its first look (a stat walk) is on this executor

    # -- running work off the GUI thread --------------------------------------------------
    def submit(self, work: Callable[[], Any], then: Callable[[Any], None] | None = None,
               *, on_error: Callable[[str], None] | None = None) -> Future | None:
        """``work()`` on the executor; ``then(result)`` or ``on_error(sentence)`` on the
        GUI thread afterwards."""
        if self._closed:
            return None
        future = self._jobs.submit(work)
        future.add_done_callback(lambda done: self._call.emit((then, on_error), done))
        return future

    @Slot(object, object)
    def _deliver(self, callbacks, future: Future) -> None:
        then, on_error = callbacks
        if future.cancelled():   # the window closed while it waited: nothing to show
            return
        error = future.exception()
        if error is not None:
            log.warning("documents: %s", error, exc_info=error)
            if on_error is not None:
                on_error(str(error))
            return
        if then is not None:
            then(future.result())

    # -- indexing -----------------------------------------------------------------------
    def request(self, names: Sequence[str] | None = None) -> None:
        """Index ``names`` (None: all) now, or after the run under way. Collections
        without an embedding model get the installed one first (search turns hybrid)."""
        if not self.enabled:
            return
        model = self.embedding_model_id()
        self.submit(lambda: self._assign_model(model), lambda _: self._start_run(names))

    def _assign_model(self, model: str | None) -> None:
        if model is None:
            return
        for info in self.store.collections():
            if info.embedding_model is None:
                self.store.set_embedding_model(info.name, model)

    def _start_run(self, names: Sequence[str] | None) -> None:
        if not self._closed:
            self.background.request(list(names) if names is not None else None)

    def pause(self) -> None:
        if self.background is not None:
            self.background.pause()

    def resume(self) -> None:
        if self.background is not None:
            self.background.resume()

    def cancel(self) -> None:
        if self.background is not None:
            self.background.cancel()

    @property
    def running(self) -> bool:
        return self.background is not None and self.background.running

    @property
    def paused(self) -> bool:
        return self.background is not None and self.background.paused and self.running

    @Slot(object)
    def _on_progress(self, progress: IndexProgress) -> None:
        self.last_progress = progress

    @Slot(object)
    def _on_finished(self, report: IndexReport) -> None:
        self.refresh()

    def _roots(self) -> list[str]:
        return [folder for info in self.store.collections() for folder in info.folders]

    def _folders_changed(self) -> None:  # on the watcher's thread
        if not self._closed:
            self.background.request()

    # -- the embedding model ------------------------------------------------------------
    def embedding_model_id(self) -> str | None:
        ref = self.services.embedding_model()
        if ref is None:
            return None
        return str(ref.path) if ref.source == "opened" else ref.id

    def embedding_downloads(self) -> list:
        """Catalog embedding models this machine may download, smallest first."""
        catalog = self.services.catalog
        entries = [e for e in catalog if getattr(e, "kind", "chat") == "embedding"
                   and self.services.can_download(e)]
        return sorted(entries, key=lambda e: e.size_bytes)

    # -- listing ------------------------------------------------------------------------
    def refresh(self) -> None:
        """List collections and files again (at most one listing at a time)."""
        if not self.enabled or self._closed:
            return
        if self._list_running:
            self._list_pending = True
            return
        self._list_running = True
        self.submit(self._list, self._listed, on_error=lambda _msg: self._listed(None))

    def _list(self) -> Listing:
        infos = tuple(self.store.collections())
        files = {info.name: tuple(row for _, row in sorted(self.store.files(info.id).items()))
                 for info in infos}
        return Listing(infos, files)

    def _listed(self, listing: Listing | None) -> None:
        self._list_running = False
        if listing is not None:
            self.listing = listing
            self.listed.emit(listing)
        if self._list_pending:
            self._list_pending = False
            self.refresh()

    # -- closing ------------------------------------------------------------------------
    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop watching and indexing (what is indexed stays; the next start goes on)."""
        if self._closed:
            return
        self._closed = True
        if self.watcher is not None:
            self.watcher.stop()
        if self.background is not None:
            self.background.close(timeout)
        self._jobs.shutdown(wait=True, cancel_futures=True)
        if self.store is not None and self._owns_store:
            self.store.close()
