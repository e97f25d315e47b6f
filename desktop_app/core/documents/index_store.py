"""The documents index: one SQLite file in the data folder (``documents.sqlite3``).

Everything the indexer knows lives here, so indexing survives a closed or killed app:
each file's chunks are replaced in one transaction together with its size, mtime and
hash, so a file is either wholly indexed as it was or not at all, and a restart simply
goes on with the files whose recorded state differs from the disk. Vectors are stored
per chunk and embedding model as float32 blobs (exact search needs no ANN index:
numpy over 100,000 x 384 floats takes milliseconds).

One connection, guarded by a lock, so the indexer's worker and a search on another
thread can share a store; WAL lets a second store (another process) read meanwhile.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..paths import Paths
from .chunks import Chunk
from .problems import DocumentProblem
from .schema import migrate

FILE_NAME = "documents.sqlite3"


def index_file(paths: Paths) -> Path:
    return paths.data_dir / FILE_NAME


@dataclass(frozen=True)
class FileRow:
    id: int
    collection_id: int
    path: str
    size: int
    mtime_ns: int
    sha256: str | None
    status: str                   # "indexed" or "problem"
    problem: DocumentProblem | None
    pages: int
    chunks: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["problem"] = self.problem.to_dict() if self.problem else None
        return data


@dataclass(frozen=True)
class CollectionInfo:
    id: int
    name: str
    embedding_model: str | None
    folders: tuple[str, ...]
    files: int = 0
    problems: int = 0
    chunks: int = 0
    embedded: int = 0             # chunks with a vector of ``embedding_model``

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["folders"] = list(self.folders)
        return data


class IndexStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), isolation_level=None,
                                   check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        migrate(self._db)

    @classmethod
    def open(cls, paths: Paths) -> "IndexStore":
        return cls(index_file(paths))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _write(self, actions) -> Any:
        """Run ``actions(db)`` in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = actions(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return result

    # -- collections and folders ----------------------------------------------------
    def ensure_collection(self, name: str, *, embedding_model: str | None = None) -> int:
        def act(db):
            row = db.execute("SELECT id FROM collections WHERE name=?", (name,)).fetchone()
            if row:
                return row[0]
            return db.execute("INSERT INTO collections(name, embedding_model, created_at) "
                              "VALUES (?,?,?)", (name, embedding_model, time.time())).lastrowid
        return self._write(act)

    def collection(self, name: str) -> CollectionInfo | None:
        return next((c for c in self.collections() if c.name == name), None)

    def collections(self) -> list[CollectionInfo]:
        out = []
        for cid, name, model in self._rows("SELECT id, name, embedding_model FROM collections "
                                           "ORDER BY name"):
            folders = tuple(r[0] for r in self._rows(
                "SELECT path FROM folders WHERE collection_id=? ORDER BY path", (cid,)))
            files, problems, chunks = self._rows(
                "SELECT count(*), coalesce(sum(status='problem'),0), coalesce(sum(chunks),0) "
                "FROM files WHERE collection_id=?", (cid,))[0]
            embedded = self._rows(
                "SELECT count(*) FROM vectors v JOIN chunks c ON c.id=v.chunk_id JOIN files f "
                "ON f.id=c.file_id WHERE f.collection_id=? AND v.model=?", (cid, model))[0][0] \
                if model else 0
            out.append(CollectionInfo(cid, name, model, folders, files, problems, chunks,
                                      embedded))
        return out

    def remove_collection(self, name: str) -> bool:
        return self._write(lambda db: db.execute(
            "DELETE FROM collections WHERE name=?", (name,)).rowcount > 0)

    def set_embedding_model(self, name: str, model: str | None) -> None:
        """Switch a collection's model: other models' vectors of its chunks are dropped
        (the indexer then embeds every chunk again with the new one)."""
        def act(db):
            cid = db.execute("SELECT id FROM collections WHERE name=?", (name,)).fetchone()[0]
            db.execute("UPDATE collections SET embedding_model=?, generation=generation+1 "
                       "WHERE id=?", (model, cid))
            db.execute("DELETE FROM vectors WHERE model IS NOT ? AND chunk_id IN (SELECT c.id "
                       "FROM chunks c JOIN files f ON f.id=c.file_id WHERE f.collection_id=?)",
                       (model, cid))
        self._write(act)

    def add_folder(self, collection_id: int, path: str) -> None:
        self._write(lambda db: db.execute(
            "INSERT OR IGNORE INTO folders(collection_id, path) VALUES (?,?)",
            (collection_id, path)))

    def remove_folder(self, collection_id: int, path: str) -> bool:
        """Forget a folder (or file) and every file indexed under it."""
        def act(db):
            gone = db.execute("DELETE FROM folders WHERE collection_id=? AND path=?",
                              (collection_id, path)).rowcount
            prefix = path.rstrip("/\\")
            db.execute("DELETE FROM files WHERE collection_id=? AND (path=? OR substr(path,1,?)"
                       " IN (?, ?))", (collection_id, path, len(prefix) + 1, prefix + "/",
                                       prefix + "\\"))
            return gone > 0
        return self._write(act)

    def folders(self, collection_id: int) -> list[str]:
        return [r[0] for r in self._rows("SELECT path FROM folders WHERE collection_id=? "
                                         "ORDER BY path", (collection_id,))]

    # -- files --------------------------------------------------------------------
    def files(self, collection_id: int) -> dict[str, FileRow]:
        rows = self._rows("SELECT id, collection_id, path, size, mtime_ns, sha256, status, "
                          "problem_kind, problem, pages, chunks FROM files "
                          "WHERE collection_id=?", (collection_id,))
        return {row[2]: FileRow(*row[:7], DocumentProblem(row[7], row[2], row[8])
                                if row[7] else None, row[9], row[10]) for row in rows}

    def record_file(self, collection_id: int, path: str, *, size: int, mtime_ns: int,
                    sha256: str | None, chunks: Sequence[Chunk] = (), pages: int = 0,
                    problem: DocumentProblem | None = None) -> int:
        """Replace what is known of one file (its chunks, or its problem), atomically."""
        def act(db):
            db.execute("DELETE FROM files WHERE collection_id=? AND path=?",
                       (collection_id, path))
            file_id = db.execute(
                "INSERT INTO files(collection_id, path, size, mtime_ns, sha256, status, "
                "problem_kind, problem, pages, chunks, indexed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (collection_id, path, size, mtime_ns, sha256,
                 "problem" if problem else "indexed", problem.kind if problem else None,
                 problem.sentence if problem else None, pages, len(chunks),
                 time.time())).lastrowid
            db.executemany(
                "INSERT INTO chunks(file_id, ordinal, text, page, heading, line_start, "
                "line_end, section, start) VALUES (?,?,?,?,?,?,?,?,?)",
                [(file_id, c.ordinal, c.text, c.page, c.heading, c.line_start, c.line_end,
                  c.section, c.start) for c in chunks])
            return file_id
        return self._write(act)

    def update_stat(self, file_id: int, *, path: str, size: int, mtime_ns: int) -> None:
        """Same content under a new stat or name (touched, or renamed): chunks and
        vectors are kept."""
        self._write(lambda db: db.execute(
            "UPDATE files SET path=?, size=?, mtime_ns=? WHERE id=?",
            (path, size, mtime_ns, file_id)))

    def delete_files(self, file_ids: Iterable[int]) -> None:
        ids = [(i,) for i in file_ids]
        if ids:
            self._write(lambda db: db.executemany("DELETE FROM files WHERE id=?", ids))

    def file_chunks(self, file_id: int) -> list[Chunk]:
        return [Chunk(*row) for row in self._rows(
            "SELECT ordinal, text, page, heading, line_start, line_end, section, start "
            "FROM chunks WHERE file_id=? ORDER BY ordinal", (file_id,))]

    # -- vectors ------------------------------------------------------------------
    def unembedded(self, collection_id: int, model: str, limit: int) -> list[tuple[int, str]]:
        return self._rows(
            "SELECT c.id, c.text FROM chunks c JOIN files f ON f.id=c.file_id "
            "WHERE f.collection_id=? AND NOT EXISTS (SELECT 1 FROM vectors v "
            "WHERE v.chunk_id=c.id AND v.model=?) ORDER BY c.id LIMIT ?",
            (collection_id, model, limit))

    def count_unembedded(self, collection_id: int, model: str) -> int:
        return self._rows(
            "SELECT count(*) FROM chunks c JOIN files f ON f.id=c.file_id "
            "WHERE f.collection_id=? AND NOT EXISTS (SELECT 1 FROM vectors v "
            "WHERE v.chunk_id=c.id AND v.model=?)", (collection_id, model))[0][0]

    def store_vectors(self, model: str, items: Sequence[tuple[int, Sequence[float]]]) -> None:
        rows = [(chunk_id, model, np.asarray(v, dtype=np.float32).tobytes())
                for chunk_id, v in items]
        self._write(lambda db: db.executemany(  # a chunk deleted meanwhile is skipped
            "INSERT OR REPLACE INTO vectors(chunk_id, model, vector) SELECT ?,?,? "
            "WHERE EXISTS (SELECT 1 FROM chunks WHERE id=?)",
            [(r[0], r[1], r[2], r[0]) for r in rows]))

    def vectors(self, collection_id: int, model: str) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, matrix with one float32 row per chunk) of one collection's model."""
        rows = self._rows(
            "SELECT v.chunk_id, v.vector FROM vectors v JOIN chunks c ON c.id=v.chunk_id "
            "JOIN files f ON f.id=c.file_id WHERE f.collection_id=? AND v.model=? "
            "ORDER BY v.chunk_id", (collection_id, model))
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        return ids, matrix.reshape(len(rows), -1)

    def generations(self) -> dict[str, tuple[int, str | None, int]]:
        """name -> (id, embedding model, generation): cheap, for every search."""
        return {name: (cid, model, generation) for cid, name, model, generation in self._rows(
            "SELECT id, name, embedding_model, generation FROM collections")}

    # -- search support -----------------------------------------------------------
    def bm25(self, match: str, collection_ids: Sequence[int], limit: int,
             *, every: bool = False) -> list[tuple[int, float]]:
        """(chunk id, BM25 score) best first; ``every``: the ids are all collections, so
        no join filters the matches (much faster on big indexes)."""
        if every:
            return self._rows("SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE "
                              "chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT ?",
                              (match, limit))
        marks = ",".join("?" * len(collection_ids))
        return self._rows(
            f"SELECT chunks_fts.rowid, -bm25(chunks_fts) FROM chunks_fts JOIN chunks c ON "
            f"c.id=chunks_fts.rowid JOIN files f ON f.id=c.file_id WHERE chunks_fts MATCH ? "
            f"AND f.collection_id IN ({marks}) ORDER BY bm25(chunks_fts) LIMIT ?",
            (match, *collection_ids, limit))

    def text_chars(self, collections: Sequence[str] | None) -> int:
        """Characters in the chunks of ``collections`` (None: all); overlaps counted."""
        names = [c.name for c in self.collections()] if collections is None else collections
        if not names:
            return 0
        marks = ",".join("?" * len(names))
        return self._rows(
            f"SELECT coalesce(sum(length(c.text)),0) FROM chunks c JOIN files f ON "
            f"f.id=c.file_id JOIN collections k ON k.id=f.collection_id "
            f"WHERE k.name IN ({marks})", list(names))[0][0]

    def passages(self, chunk_ids: Sequence[int]) -> dict[int, tuple]:
        """chunk id -> (collection name, file path, file id, page, heading, line_start,
        line_end, text)."""
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        rows = self._rows(
            f"SELECT c.id, k.name, f.path, f.id, c.page, c.heading, c.line_start, c.line_end, "
            f"c.text FROM chunks c JOIN files f ON f.id=c.file_id JOIN collections k ON "
            f"k.id=f.collection_id WHERE c.id IN ({marks})", list(chunk_ids))
        return {row[0]: row[1:] for row in rows}
