"""Hybrid search over the documents index: BM25 and exact vector cosine, fused.

BM25 comes from SQLite's FTS5 (the query's words OR-ed, each quoted so no word is read
as FTS syntax). Vectors: the query is embedded through ``Engine.embed`` (with the model's
query prefix) and compared to every stored vector of the collection's model with one
numpy matrix product; exact search is milliseconds at 100,000 chunks, so no approximate
index. The two rankings are fused by reciprocal rank (score = sum of 1 / (60 + rank)),
which needs no calibration between BM25 scores and cosines. Before any embedding model
exists (or if embedding the query fails) the search is BM25 alone; ``last_warning``
says why vectors were left out.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ScalpelError
from .index_store import IndexStore

log = logging.getLogger(__name__)
RRF_K = 60
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class SearchHit:
    chunk_id: int
    collection: str
    file: str
    page: int | None
    heading: str | None
    line_start: int
    line_end: int
    passage: str
    score: float                  # fused reciprocal-rank score (higher is better)
    bm25_rank: int | None = None  # 1-based place in each ranking, None if absent
    vector_rank: int | None = None
    cosine: float | None = None

    @property
    def where(self) -> str:
        """"manual.pdf, page 3" / "notes.md, Install" / "notes.txt, lines 4-9"."""
        name = self.file.replace("\\", "/").rsplit("/", 1)[-1]
        if self.page is not None:
            return f"{name}, page {self.page}"
        if self.heading:
            return f"{name}, {self.heading}"
        return f"{name}, lines {self.line_start}-{self.line_end}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SearchHit":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


# Words nearly every English passage holds: they add almost nothing to BM25 (their IDF
# is close to zero) but each costs a pass over most of the index (150 ms at 100,000
# chunks for one such word), so a query drops them when it has any other word.
STOPWORDS = frozenset("""
a about after all also am an and any are as at be been before being but by can could did
do does doing for from had has have having he her here hers him his how i if in into is it
its me more most my no nor not of on once only or other our out over own same she should
so some such than that the their them then there these they this those through to too
under until up very was we were what when where which while who whom why will with would
you your yours""".split())


def fts_query(text: str) -> str:
    """``text``'s words for FTS5 MATCH, quoted and OR-ed ("" when it has none); common
    English words are left out unless the query has nothing else."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))
    content = [w for w in words if w not in STOPWORDS]
    return " OR ".join(f'"{w}"' for w in content or words)


def fuse(rankings: Sequence[Sequence[int]], *, k: int = RRF_K) -> dict[int, float]:
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return scores


class DocumentSearch:
    def __init__(self, store: IndexStore, *, engine=None,
                 resolve_model: Callable[[str], str] = lambda model: model,
                 prefixes: Callable[[str], tuple[str, str]] = lambda model: ("", ""),
                 candidates: int = 50) -> None:
        self.store, self.engine = store, engine
        self.resolve_model, self.prefixes = resolve_model, prefixes
        self.candidates = candidates
        self.last_warning: str | None = None
        self._cache: dict[tuple[int, str], tuple[int, np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()

    def search(self, query: str, *, collections: Sequence[str] | None = None,
               limit: int = 10, vectors: bool = True) -> list[SearchHit]:
        self.last_warning = None
        known = self.store.generations()
        infos = [info for name, info in known.items()
                 if collections is None or name in collections]
        if not infos or not query.strip():
            return []
        bm25 = self._bm25(query, [cid for cid, _, _ in infos], every=len(infos) == len(known))
        rankings = [[cid for cid, _ in bm25]]
        cosines: dict[int, float] = {}
        if vectors:
            for model in dict.fromkeys(m for _, m, _ in infos if m):
                ranked = self._vectors(query, model, [(cid, generation) for cid, m, generation
                                                      in infos if m == model])
                rankings.append([cid for cid, _ in ranked])
                cosines.update(ranked)
        scores = fuse(rankings)
        best = sorted(scores, key=lambda cid: (-scores[cid], cid))[:limit]
        rows = self.store.passages(best)
        bm25_rank = {cid: rank for rank, (cid, _) in enumerate(bm25, start=1)}
        vector_rank = {cid: rank for ranking in rankings[1:]
                       for rank, cid in enumerate(ranking, start=1)}
        hits = []
        for cid in best:
            if cid not in rows:
                continue  # deleted since the rankings were made
            name, path, _file_id, page, heading, first, last, text = rows[cid]
            hits.append(SearchHit(cid, name, path, page, heading, first, last, text,
                                  round(scores[cid], 6), bm25_rank.get(cid),
                                  vector_rank.get(cid), cosines.get(cid)))
        return hits

    def _bm25(self, query: str, collection_ids: list[int], *, every: bool
              ) -> list[tuple[int, float]]:
        match = fts_query(query)
        return (self.store.bm25(match, collection_ids, self.candidates, every=every)
                if match else [])

    def _vectors(self, query: str, model: str, collections: list[tuple[int, int]]
                 ) -> list[tuple[int, float]]:
        """(chunk id, cosine) best first; ``collections``: (id, generation) pairs."""
        if self.engine is None:
            self.last_warning = "no engine to embed the question; words only (BM25)"
            return []
        parts = [self._matrix(cid, model, generation) for cid, generation in collections]
        parts = [(ids, m) for ids, m in parts if len(ids)]
        if not parts:
            return []
        try:
            query_vector = self.engine.embed([self.prefixes(model)[0] + query],
                                             model=self.resolve_model(model))[0]
        except ScalpelError as exc:
            self.last_warning = f"{exc}; words only (BM25)"
            log.warning("embedding a query failed: %s", exc)
            return []
        q = np.asarray(query_vector, dtype=np.float32)
        ids = np.concatenate([i for i, _ in parts])
        sims = np.concatenate([m @ q if m.shape[1] == len(q) else np.full(len(i), -1.0)
                               for i, m in parts])
        top = min(self.candidates, len(ids))
        order = np.argpartition(-sims, top - 1)[:top]
        order = order[np.argsort(-sims[order], kind="stable")]
        return [(int(ids[i]), float(sims[i])) for i in order]

    def _matrix(self, collection_id: int, model: str, version: int
                ) -> tuple[np.ndarray, np.ndarray]:
        """The collection's vectors, read again only when its generation changed."""
        with self._lock:
            cached = self._cache.get((collection_id, model))
            if cached and cached[0] == version:
                return cached[1], cached[2]
        ids, matrix = self.store.vectors(collection_id, model)
        with self._lock:
            self._cache[(collection_id, model)] = (version, ids, matrix)
        return ids, matrix
