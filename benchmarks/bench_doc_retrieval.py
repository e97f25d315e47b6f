"""Retrieval quality and embedding speed on a real collection: Python's language-reference
topics (pydoc_data, 79 files, 655 passages) and the 72 questions of tests/data/docs_eval.jsonl.

* hit@1, hit@5 and MRR@10 for BM25 alone, vectors alone and hybrid (RRF), through the real
  Indexer and DocumentSearch. The embedding model is the SmolLM2-135M chat model standing
  in (mean pooling over a causal model, no retrieval training): a real embedding model
  (nomic-embed, bge, E5) cannot be had offline here, none ships with a package and
  downloading weights is not allowed, so the vector figures are a floor, not what a real
  embedding model gives.
* ``--compare-grouping N``: the first N passages embedded through LlamaEngine.embed three
  ways, interleaved, best of ``--rounds``: one decode per group of 512 tokens (the
  embedder now), everything packed into decodes of 2,048 (llama-cpp-python's packing,
  the embedder before), and one decode per passage.
* ``--compare-threads N``: N passages embedded with the thread count the embedder now
  chooses when other programs keep every core busy (1 on 2 cores) and with every core
  (what it always took before), interleaved, best of ``--rounds``. Run it beside busy
  programs: on an idle machine the embedder takes every core too.

    python benchmarks/bench_doc_retrieval.py [--compare-grouping 24] [--compare-threads 0]
                                             [--rounds 2] [--compare-only] [--no-vectors]
                                             [--model GGUF]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from desktop_app.core.documents import DocumentSearch, IndexStore, Indexer  # noqa: E402
from docs_eval import (COLLECTION, DEPTH, evaluate, load_questions,  # noqa: E402
                       write_topics)


def print_scores(name: str, scores) -> None:
    print(f"  {name:8s} hit@1 {scores.hit_at_1:.2f}  hit@5 {scores.hit_at_5:.2f}  "
          f"MRR {scores.mrr:.2f}")


def compare_grouping(engine, model: str, texts: list[str], rounds: int) -> None:
    from desktop_app.core.engine.embedder import EMBEDDING_CONTEXT, GROUP_TOKENS

    embedder = engine._embedder  # the one switch: tokens per decode
    ways = {f"groups of {GROUP_TOKENS} tokens (now)": GROUP_TOKENS,
            f"packed into {EMBEDDING_CONTEXT} (before)": EMBEDDING_CONTEXT,
            "one passage per decode": 1}
    engine.embed(texts[:1], model=model)  # opens the embedding context
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, tokens in ways.items():
            embedder.group_tokens = tokens
            start = time.perf_counter()
            engine.embed(texts, model=model)
            took = time.perf_counter() - start
            best[name] = min(best.get(name, took), took)
    embedder.group_tokens = GROUP_TOKENS
    now = best[next(iter(ways))]
    print(f"embedding {len(texts)} passages through LlamaEngine.embed, best of {rounds}:")
    for name, took in best.items():
        print(f"  {name:32s} {took:6.1f} s = {len(texts) / took:5.2f} passages/s "
              f"(now is {took / now:.2f}x as fast)")


def compare_threads(model: str, texts: list[str], rounds: int) -> None:
    from desktop_app.core.engine import LlamaEngine

    chosen, every = LlamaEngine(), LlamaEngine()
    chosen._embedder._others_busy = lambda: float(os.cpu_count() or 1)  # all busy
    every._embedder._others_busy = lambda: None  # no measurement: every usable core
    for engine in (chosen, every):
        engine.embed(texts[:1], model=model)
    ways = {f"chosen beside busy programs ({chosen._embedder.threads})": chosen,
            f"every core ({every._embedder.threads}, before)": every}
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, engine in ways.items():
            start = time.perf_counter()
            engine.embed(texts, model=model)
            took = time.perf_counter() - start
            best[name] = min(best.get(name, took), took)
    for engine in (chosen, every):
        engine.unload()
    now = best[next(iter(ways))]
    print(f"embedding {len(texts)} passages, best of {rounds}:")
    for name, took in best.items():
        print(f"  {name:32s} {took:6.1f} s = {len(texts) / took:5.2f} passages/s "
              f"(now is {took / now:.2f}x as fast)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare-grouping", type=int, default=24, metavar="N")
    parser.add_argument("--compare-threads", type=int, default=0, metavar="N")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", metavar="GGUF",
                        help="the embedding model (default: the starter SmolLM2)")
    parser.add_argument("--compare-only", action="store_true",
                        help="the speed comparisons only, no retrieval scores")
    parser.add_argument("--no-vectors", action="store_true",
                        help="BM25 only (no model)")
    args = parser.parse_args()
    questions = load_questions()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_topics(root / "topics")
        store = IndexStore(root / "index.sqlite3")
        store.add_folder(store.ensure_collection(COLLECTION), str(root / "topics"))
        start = time.perf_counter()
        report = Indexer(store).run()
        print(f"{report.files_parsed} topics, {report.chunks_added} passages, indexed words only "
              f"in {time.perf_counter() - start:.2f} s; {len(questions)} questions, "
              f"MRR over the first {DEPTH} hits")
        words = DocumentSearch(store)
        results = {"BM25": evaluate(questions, lambda q: [
            h.passage for h in words.search(q, limit=DEPTH, vectors=False)])[0]}
        if not args.no_vectors:
            from benchmarks.bench_decode import starter_model_path
            from desktop_app.core.engine import LlamaEngine

            model = starter_model_path(args.model)
            engine = LlamaEngine()
            if args.compare_threads:
                compare_threads(model, [text for _, text in store.unembedded(
                    store.collection(COLLECTION).id, model, args.compare_threads)],
                    args.rounds)
            if args.compare_grouping:
                texts = [text for _, text in store.unembedded(
                    store.collection(COLLECTION).id, model, args.compare_grouping)]
                compare_grouping(engine, model, texts, args.rounds)
            if args.compare_only:
                engine.unload()
                return
            store.set_embedding_model(COLLECTION, model)
            start = time.perf_counter()
            embedded = Indexer(store, engine=engine).run()
            took = time.perf_counter() - start
            print(f"embedding all {embedded.chunks_embedded} passages with {Path(model).name} "
                  f"(Indexer, batches of 32): {took:.0f} s = "
                  f"{embedded.chunks_embedded / took:.2f} passages/s")
            search = DocumentSearch(store, engine=engine)
            cid, _, generation = store.generations()[COLLECTION]

            def vectors_only(q: str) -> list[str]:
                ids = [i for i, _ in search._vectors(q, model, [(cid, generation)])][:DEPTH]
                rows = store.passages(ids)
                return [rows[i][-1] for i in ids if i in rows]

            results["vectors"] = evaluate(questions, vectors_only)[0]
            results["hybrid"] = evaluate(questions, lambda q: [
                h.passage for h in search.search(q, limit=DEPTH)])[0]
            engine.unload()
        print(f"retrieval on {len(questions)} questions (embedding model: "
              f"{Path(model).name if not args.no_vectors else 'none'}):")
        for name, scores in results.items():
            print_scores(name, scores)
        store.close()


if __name__ == "__main__":
    main()
