"""Indexing a collection: read what changed, cut it into chunks, embed them; resumable.

Nothing is held in memory between runs: the store records each file's size, mtime and
hash with its chunks in one transaction, so after a crash, a kill or a closed window the
next run skips every file already done and reads only the rest (and only what changed:
a file whose size and mtime match is not opened; one whose hash matches is not parsed).
A file that vanished is deleted with its chunks; one that reappears elsewhere with the
same hash is a rename and keeps its chunks and vectors.

Text goes in first for every file (BM25 search works as soon as a file is done), then
vectors for the chunks that lack one for the collection's embedding model, in batches
through ``Engine.embed`` (the engine process: llama.cpp never runs here). A failing
embedding model leaves the collection searchable by BM25 and is reported.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from ..errors import ScalpelError
from ..policy import Policy
from . import problems, readers
from .allowed import path_refusal
from .chunks import chunk_sections
from .control import IndexControl
from .index_store import FileRow, IndexStore
from .progress import IndexProgress, RateClock
from .scan import walk

log = logging.getLogger(__name__)

Prefixes = Callable[[str], tuple[str, str]]  # model id -> (query prefix, document prefix)


@dataclass(frozen=True)
class IndexReport:
    files_seen: int = 0
    files_read: int = 0            # opened (changed or new)
    files_parsed: int = 0          # read and cut into chunks (content changed)
    files_removed: int = 0
    files_renamed: int = 0
    chunks_added: int = 0
    pages: int = 0                 # PDF pages read (other files count as one)
    chunks_embedded: int = 0
    problems: tuple[problems.DocumentProblem, ...] = ()
    embedding_error: str | None = None
    cancelled: bool = False

    def to_dict(self) -> dict:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["problems"] = [p.to_dict() for p in self.problems]
        return data


@dataclass
class _Tally:
    report: IndexReport = field(default_factory=IndexReport)

    def add(self, **changes) -> None:
        values = {k: getattr(self.report, k) + v for k, v in changes.items()}
        self.report = replace(self.report, **values)


class Indexer:
    """Runs on the caller's thread (``BackgroundIndexer`` gives it a worker)."""

    def __init__(self, store: IndexStore, *, engine=None,
                 resolve_model: Callable[[str], str] = lambda model: model,
                 prefixes: Prefixes = lambda model: ("", ""),
                 policy: Policy | None = None,
                 load: Callable[[str], bytes] = readers.load_bytes,
                 batch_size: int = 32, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.engine = store, engine
        self.resolve_model, self.prefixes = resolve_model, prefixes
        self.policy = policy or Policy.unmanaged()
        self.load, self.batch_size, self.clock = load, batch_size, clock

    def run(self, collections: Sequence[str] | None = None, *,
            control: IndexControl | None = None,
            on_progress: Callable[[IndexProgress], None] | None = None) -> IndexReport:
        control = control or IndexControl()
        emit = on_progress or (lambda progress: None)
        tally = _Tally()
        wanted = [c for c in self.store.collections()
                  if collections is None or c.name in collections]
        for info in wanted:
            if not self._files(info.id, control, emit, tally):
                break
        for info in wanted:
            if control.cancelled:
                break
            if info.embedding_model:
                self._embed(info.id, info.embedding_model, control, emit, tally)
        if control.cancelled:
            tally.report = replace(tally.report, cancelled=True)
        emit(IndexProgress(phase="cancelled" if control.cancelled else "done"))
        return tally.report

    # -- text -----------------------------------------------------------------
    def _files(self, collection_id: int, control: IndexControl, emit, tally: _Tally) -> bool:
        emit(IndexProgress(phase="scanning"))
        found: dict[str, tuple[int, int]] = {}
        failed: dict[str, OSError] = {}
        for root in self.store.folders(collection_id):
            found.update(walk(root, on_error=lambda path, exc: failed.setdefault(path, exc)))
        known = self.store.files(collection_id)
        tally.add(files_seen=len(found) + len(failed))
        changed = [(p, s) for p, s in found.items() if self._stale(p, s, known.get(p))]
        unreachable = tuple(path.rstrip("/\\") + sep for path in failed for sep in "/\\")
        vanished = {p: row for p, row in known.items()  # an unplugged drive is not a delete
                    if p not in found and p not in failed and not p.startswith(unreachable)}
        if not any(p not in known for p, _ in changed):  # no new name: nothing was renamed
            self.store.delete_files(row.id for row in vanished.values())  # gone at once
            tally.add(files_removed=len(vanished))
            vanished = {}
        by_hash = {row.sha256: row for row in vanished.values()
                   if row.sha256 and row.status == "indexed"}
        for path, exc in failed.items():
            self._record_problem(collection_id, path, (0, 0), None,
                                 problems.unreadable(path, exc).problem, tally)
        clock = RateClock(self.clock, total=sum(s[0] for _, s in changed))
        taken: set[int] = set()  # vanished rows that turned out renamed
        for number, (path, stat) in enumerate(changed, start=1):
            if not control.checkpoint():
                return False
            moved = self._one_file(collection_id, path, stat, known.get(path), by_hash, tally)
            if moved is not None:
                taken.add(moved)
            clock.advance(stat[0], chunks=tally.report.chunks_added)
            emit(IndexProgress(phase="reading", files_done=number, files_total=len(changed),
                               pages=tally.report.pages, chunks=tally.report.chunks_added,
                               chunks_per_second=clock.chunks_per_second(),
                               seconds_left=clock.seconds_left(), current=path))
        gone = [row.id for row in vanished.values() if row.id not in taken]
        self.store.delete_files(gone)
        tally.add(files_removed=len(gone))
        return True

    def _stale(self, path: str, stat: tuple[int, int], row: FileRow | None) -> bool:
        """Worth opening: new, changed, refused or unreadable before (the policy or the
        permissions may have changed), or now outside what the policy allows."""
        if row is None or (row.size, row.mtime_ns) != stat:
            return True
        kind = row.problem.kind if row.problem else None
        if kind in ("refused", "unreadable"):
            return True
        return (self.policy.documents_folders is not None or not self.policy.documents_enabled) \
            and path_refusal(self.policy, path) is not None

    def _one_file(self, collection_id: int, path: str, stat: tuple[int, int],
                  row: FileRow | None, by_hash: dict[str, FileRow],
                  tally: _Tally) -> int | None:
        """Index one new or changed file; the id of a vanished row it was renamed from."""
        refusal = path_refusal(self.policy, path)
        if refusal:
            problem = problems.DocumentProblem("refused", path, refusal)
            self._record_problem(collection_id, path, stat, None, problem, tally)
            return None
        try:
            data = self.load(path)
        except problems.DocumentProblemError as exc:
            self._record_problem(collection_id, path, stat, None, exc.problem, tally)
            return None
        tally.add(files_read=1)
        digest = hashlib.sha256(data).hexdigest()
        if row is not None and row.sha256 == digest and row.status == "indexed":
            self.store.update_stat(row.id, path=path, size=stat[0], mtime_ns=stat[1])
            return None
        if row is None and (moved := by_hash.pop(digest, None)) is not None:
            self.store.update_stat(moved.id, path=path, size=stat[0], mtime_ns=stat[1])
            tally.add(files_renamed=1)
            return moved.id
        try:
            sections = readers.read_sections(path, data)
        except problems.DocumentProblemError as exc:
            self._record_problem(collection_id, path, stat, digest, exc.problem, tally)
            return None
        except Exception as exc:  # a library failing on a strange file: that file only
            log.warning("reading %s failed", path, exc_info=True)
            problem = problems.damaged(path, readers.kind_of(path).upper(),
                                       type(exc).__name__).problem
            self._record_problem(collection_id, path, stat, digest, problem, tally)
            return None
        chunks = chunk_sections(sections)
        pages = max((s.page or 0) for s in sections)
        self.store.record_file(collection_id, path, size=stat[0], mtime_ns=stat[1],
                               sha256=digest, chunks=chunks, pages=pages)
        tally.add(files_parsed=1, chunks_added=len(chunks), pages=max(pages, 1))
        return None

    def _record_problem(self, collection_id, path, stat, digest, problem, tally) -> None:
        self.store.record_file(collection_id, path, size=stat[0], mtime_ns=stat[1],
                               sha256=digest, problem=problem)
        tally.report = replace(tally.report, problems=tally.report.problems + (problem,))

    # -- vectors --------------------------------------------------------------
    def _embed(self, collection_id: int, model: str, control: IndexControl, emit,
               tally: _Tally) -> None:
        if self.engine is None:
            tally.report = replace(tally.report, embedding_error=(
                "no engine to embed with; search uses words only (BM25) for now"))
            return
        total = self.store.count_unembedded(collection_id, model)
        clock = RateClock(self.clock, total=total)
        document_prefix = self.prefixes(model)[1]
        done = 0
        while control.checkpoint():
            batch = self.store.unembedded(collection_id, model, self.batch_size)
            if not batch:
                return
            try:
                vectors = self.engine.embed([document_prefix + text for _, text in batch],
                                            model=self.resolve_model(model))
            except ScalpelError as exc:
                tally.report = replace(tally.report, embedding_error=str(exc))
                return
            self.store.store_vectors(model, [(cid, v) for (cid, _), v in zip(batch, vectors)])
            done += len(batch)
            tally.add(chunks_embedded=len(batch))
            clock.advance(len(batch), chunks=done)
            emit(IndexProgress(phase="embedding", chunks=done, chunks_total=total,
                               chunks_per_second=clock.chunks_per_second(),
                               seconds_left=clock.seconds_left()))
