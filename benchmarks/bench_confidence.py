"""The decode cost of the answer's confidence signals (issue 15: at most 3 % slower).

The engine records each chosen token's log-probability (core/engine/confidence.py)
so that core/escalation can tell a weak local answer. Side by side in one run, in
alternating rounds on one loaded engine: the same greedy reply with
``token_confidence`` on and off; the figure is the median decode tok/s of each and
their ratio (on / off, target >= 0.97).

    python benchmarks/bench_confidence.py [--model PATH] [--threads 2] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_decode import (DEFAULT_THREADS, MESSAGES, alternate,  # noqa: E402
                                     format_rounds, open_engine, starter_model_path)
from benchmarks.report import Row, at_least, format_ratio, ratio  # noqa: E402
from desktop_app.core.engine import GenerationParams  # noqa: E402

TARGET = 0.97
TOKENS = 128


def measure(engine, *, rounds: int, tokens: int = TOKENS) -> dict[str, list[float]]:
    def run(collect: bool):
        def once() -> float:
            params = GenerationParams(temperature=0.0, max_tokens=tokens,
                                      token_confidence=collect)
            with engine.generate(MESSAGES, params) as handle:
                finished = handle.result()
            if collect and finished.stats.logprob_p10 is None:
                raise RuntimeError("the engine recorded no token log-probabilities")
            return finished.stats.decode_tokens_per_s
        return once

    return alternate({"with": run(True), "without": run(False)}, rounds)


def rows(figures: dict[str, list[float]]) -> list[Row]:
    on, off = statistics.median(figures["with"]), statistics.median(figures["without"])
    value = ratio(on, off)
    return [Row("Decode tok/s with confidence signals (vs without)",
                f"{on:.1f} ({format_rounds(figures['with'])})",
                f"{off:.1f} ({format_rounds(figures['without'])})",
                format_ratio(value), f"≥ {TARGET}", at_least(value, TARGET))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF path (default: the starter SmolLM2)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    engine = open_engine(starter_model_path(args.model), args.threads)
    try:
        for row in rows(measure(engine, rounds=args.rounds)):
            print(f"{row.metric}: {row.scalpel} vs {row.reference} -> {row.ratio} "
                  f"({row.target}: {row.verdict})")
    finally:
        engine.unload()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
