"""Your own documents: indexing throughput, the watcher's look, and search latency.

* indexing a generated folder (``--files`` Markdown notes plus ``--pdfs`` 10-page PDFs):
  files/s, pages/s and chunks/s, words only (BM25), then a rescan with nothing changed;
* the folder watcher's stat walk of that folder (what polling costs per look);
* indexing with embeddings: ``--embed`` notes and a 10-page PDF through the Indexer with
  SmolLM2 as embedding model (``Engine.embed`` in this process; 0 skips it): pages/s and
  chunks/s, words and vectors;
* search latency at ``--sizes`` chunks (synthetic passages of 110 words drawn Zipf(1.2)
  from 20,000, as natural text spreads its words, with 384-dimension float32 vectors;
  queries of 3 words of frequency rank 50 to 5,000, the content words of a question):
  BM25, exact vector cosine (the query's embedding excluded: a fixed vector), and both
  fused, median of ``--queries`` queries; the memory the index holds in the process
  (resident set growth from opening the store to after the first search, which reads
  the vector matrix) and the index file's size on disk.

    python benchmarks/bench_documents.py [--files 2000] [--pdfs 5] [--sizes 10000,100000]
                                         [--embed 40] [--queries 20]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from desktop_app.core.documents import DocumentSearch, IndexStore, Indexer  # noqa: E402
from desktop_app.core.documents.chunks import Chunk  # noqa: E402
from desktop_app.core.documents.scan import snapshot  # noqa: E402
from document_files import make_small_files, write_pdf  # noqa: E402

WORDS = ("river stone maple copper lantern harbor meadow signal thunder velvet orchard "
         "quartz willow ember falcon glacier invoice warranty pump filter boiler contract "
         "deadline payment tenant battery cable driver screen update backup").split()


def bench_indexing(root: Path, files: int, pdfs: int) -> None:
    folder = root / "docs"
    make_small_files(folder, files, words=120)
    rng = random.Random(1)
    for n in range(pdfs):
        write_pdf(folder / f"manual{n}.pdf",
                  [" ".join(rng.choice(WORDS) for _ in range(300)) for _ in range(10)])
    store = IndexStore(root / "index.sqlite3")
    store.add_folder(store.ensure_collection("bench"), str(folder))
    start = time.perf_counter()
    report = Indexer(store).run()
    took = time.perf_counter() - start
    print(f"indexing {report.files_parsed} files ({report.pages} pages incl. {pdfs * 10} PDF "
          f"pages, {report.chunks_added} chunks), words only: {took:.2f} s = "
          f"{report.files_parsed / took:.0f} files/s, {report.pages / took:.0f} pages/s, "
          f"{report.chunks_added / took:.0f} chunks/s")
    start = time.perf_counter()
    again = Indexer(store).run()
    print(f"rescan with nothing changed: {time.perf_counter() - start:.3f} s "
          f"({again.files_read} files read)")
    start = time.perf_counter()
    snapshot([str(folder)])
    print(f"watcher's stat walk of {files + pdfs} files: "
          f"{(time.perf_counter() - start) * 1000:.1f} ms")
    store.close()


def bench_embedding(root: Path, count: int) -> None:
    """Indexing with embeddings: ``count`` notes and a 10-page PDF through the Indexer with
    SmolLM2 as the collection's embedding model (LlamaEngine in this process)."""
    from desktop_app.core.engine import LlamaEngine
    from benchmarks.bench_decode import starter_model_path

    model = str(starter_model_path())
    folder = root / "embedded"
    make_small_files(folder, count, words=120)
    rng = random.Random(2)
    write_pdf(folder / "manual.pdf",
              [" ".join(rng.choice(WORDS) for _ in range(300)) for _ in range(10)])
    engine = LlamaEngine()
    engine.embed(["warm up"], model=model)  # the embedding context opened, as when it is kept
    store = IndexStore(root / "embedded.sqlite3")
    store.add_folder(store.ensure_collection("embedded", embedding_model=model), str(folder))
    start = time.perf_counter()
    report = Indexer(store, engine=engine).run()
    took = time.perf_counter() - start
    print(f"indexing {report.files_parsed} files ({report.pages} pages, {report.chunks_added} "
          f"chunks) with SmolLM2-135M embeddings ({engine._embedder.threads} threads): "
          f"{took:.1f} s = {report.pages / took:.2f} pages/s, "
          f"{report.chunks_embedded / took:.2f} chunks/s")
    store.close()
    engine.unload()


class FixedEngine:
    """Returns one fixed unit vector: the search itself is timed, not the embedding."""

    def __init__(self, dim: int) -> None:
        vector = np.random.default_rng(3).standard_normal(dim).astype(np.float32)
        self.vector = (vector / np.linalg.norm(vector)).tolist()

    def embed(self, texts, *, model=None):
        return [self.vector for _ in texts]


def resident_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def bench_search(root: Path, size: int, queries: int, dim: int = 384) -> None:
    store = IndexStore(root / f"search{size}.sqlite3")
    cid = store.ensure_collection("bench", embedding_model="synthetic")
    rng = random.Random(size)
    numbers = np.random.default_rng(size)
    vectors = numbers.standard_normal((size, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vocabulary = [f"w{i}" for i in range(20000)]
    per_file = 100
    start = time.perf_counter()
    for f in range(size // per_file):
        ranks = numbers.zipf(1.2, size=(per_file, 110)) % 20000
        chunks = [Chunk(i, " ".join(vocabulary[r] for r in row), None, None, 1, 10, 0, i * 700)
                  for i, row in enumerate(ranks)]
        store.record_file(cid, f"/synthetic/{f}.md", size=1, mtime_ns=1, sha256=str(f),
                          chunks=chunks)
    ids = [r[0] for r in store._rows("SELECT id FROM chunks ORDER BY id")]
    for i in range(0, size, 5000):
        store.store_vectors("synthetic", list(zip(ids[i:i + 5000], vectors[i:i + 5000])))
    built = time.perf_counter() - start
    del vectors, ids
    store.close()
    store = IndexStore(root / f"search{size}.sqlite3")  # as a new process would open it
    engine = FixedEngine(dim)
    before = resident_mb()
    search = DocumentSearch(store, engine=engine)
    words_only = DocumentSearch(store)
    search.search("warm up")  # reads the vector matrix once (kept while unchanged)
    held = resident_mb() - before
    on_disk = sum(os.path.getsize(p) for p in root.glob(f"search{size}.sqlite3*")) / 1e6
    generation = store.generations()["bench"][2]
    timings: dict[str, list[float]] = {"bm25": [], "vectors": [], "hybrid": []}
    for _ in range(queries):
        query = "what is " + " ".join(f"w{rng.randint(50, 5000)}" for _ in range(3))
        for name, run in (("bm25", lambda: words_only.search(query)),
                          ("vectors", lambda: search._vectors(query, "synthetic",
                                                              [(cid, generation)])),
                          ("hybrid", lambda: search.search(query))):
            start = time.perf_counter()
            run()
            timings[name].append((time.perf_counter() - start) * 1000)
    matrix_mb = size * dim * 4 / 1e6
    print(f"search at {size:,} chunks (built in {built:.0f} s; vector matrix {matrix_mb:.0f} "
          f"MB; resident memory +{held:.0f} MB after the first search; index file "
          f"{on_disk:.0f} MB): median " + ", ".join(f"{name} {statistics.median(values):.1f} ms"
                                      for name, values in timings.items()))
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--pdfs", type=int, default=5)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--embed", type=int, default=40)
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        bench_indexing(root, args.files, args.pdfs)
        if args.embed:
            bench_embedding(root, args.embed)
        for size in (int(s) for s in args.sizes.split(",") if s):
            bench_search(root, size, args.queries)


if __name__ == "__main__":
    main()
