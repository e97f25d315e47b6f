"""Calibration holds on requests it has not seen (issue 15: within ±5 points of the budget).

Every request of the labelled set (tests/data/routing_requests.jsonl) gets one short local
answer on SmolLM2, routed and prompted as ``scalpel route calibrate`` does
(core/escalation/calibrate.py: the preset's prompt and sampling, a fixed seed), and its
10th-percentile token log-probability is read from the engine's stats. The set is split in
two halves with the same mix of tasks (alternate requests of each task); the threshold is
calibrated on one half for a budget and the share it escalates is measured on the other,
both ways round. Reported per budget: the held-out shares, their distance from the budget
in points, and the ratio share / budget.

    python benchmarks/bench_calibration.py [--model PATH] [--threads 2] [--max-tokens 16]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from benchmarks.bench_decode import DEFAULT_THREADS, open_engine, starter_model_path  # noqa
from benchmarks.report import INFO, Row, markdown_table, verdict  # noqa: E402
from desktop_app.core.escalation.calibrate import (escalated_share, score_requests,  # noqa
                                                   threshold_for_share)
from desktop_app.core.preset_store import PresetStore  # noqa: E402
from desktop_app.core.resources import resource_path  # noqa: E402
from routing_eval import load_requests  # noqa: E402

BUDGETS = (0.1, 0.2, 0.3)
POINTS_TARGET = 5.0
SPLITS, SPLITS_SEED = 500, 15
MAX_TOKENS = 16


def halves(rows: list[dict]) -> tuple[list[int], list[int]]:
    """Indices of two halves with the same mix of tasks: alternate requests of each task."""
    seen: dict[str, int] = {}
    first, second = [], []
    for index, row in enumerate(rows):
        count = seen.get(row["task"], 0)
        (first if count % 2 == 0 else second).append(index)
        seen[row["task"]] = count + 1
    return first, second


def run(model: str, threads: int, *, max_tokens: int = MAX_TOKENS) -> dict:
    import tempfile

    rows = load_requests()
    presets = PresetStore(builtin_dir=resource_path("presets"),
                          user_dir=Path(tempfile.mkdtemp())).list()
    engine = open_engine(model, threads)
    started = time.perf_counter()
    try:
        scored = score_requests(engine, [r["text"] for r in rows], presets=presets,
                                max_tokens=max_tokens, on_progress=_progress)
    finally:
        engine.unload()
    seconds = time.perf_counter() - started
    scores = [s.score for s in scored]
    first, second = halves(rows)
    per_budget = {}
    for budget in BUDGETS:
        pairs = []
        for fit_on, test_on in ((first, second), (second, first)):
            threshold = threshold_for_share([scores[i] for i in fit_on], budget)
            pairs.append((threshold, escalated_share([scores[i] for i in fit_on], threshold),
                          escalated_share([scores[i] for i in test_on], threshold)))
        per_budget[budget] = pairs
    return {"per_budget": per_budget, "splits": random_splits(rows, scores),
            "requests": len(rows), "halves": (len(first), len(second)),
            "measured": sum(s is not None for s in scores), "seconds": seconds,
            "max_tokens": max_tokens}


def random_splits(rows: list[dict], scores: list, count: int = SPLITS) -> dict:
    """{budget: held-out deviations in points} over ``count`` random halves, each with the
    same mix of tasks (seeded): how far one half's share lands from the budget, as a
    distribution rather than one draw (about 146 requests per half: the binomial spread
    alone is ~4.7 points at 20 %)."""
    import random

    chooser = random.Random(SPLITS_SEED)
    by_task: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        by_task.setdefault(row["task"], []).append(index)
    deviations: dict[float, list[float]] = {budget: [] for budget in BUDGETS}
    for _ in range(count):
        fit_on, test_on = [], []
        for indices in by_task.values():
            shuffled = indices[:]
            chooser.shuffle(shuffled)
            fit_on += shuffled[:len(shuffled) // 2]
            test_on += shuffled[len(shuffled) // 2:]
        for budget in BUDGETS:
            threshold = threshold_for_share([scores[i] for i in fit_on], budget)
            held = escalated_share([scores[i] for i in test_on], threshold)
            deviations[budget].append((held - budget) * 100)
    return deviations


def _progress(done: int, total: int) -> None:
    if done % 50 == 0 or done == total:
        print(f"    calibration: {done}/{total} answers scored", file=sys.stderr, flush=True)


def rows(result: dict) -> list[Row]:
    out = []
    for budget, pairs in result["per_budget"].items():
        held = [p[2] for p in pairs]
        points = [abs(h - budget) * 100 for h in held]
        out.append(Row(
            f"Escalation share on the held-out half, calibrated for {budget:.0%} on the other "
            f"({result['halves'][0]}/{result['halves'][1]} requests, both ways)",
            " / ".join(f"{h:.1%}" for h in held), f"budget {budget:.0%}",
            " / ".join(f"{h / budget:.2f}" for h in held),
            f"within ±{POINTS_TARGET:.0f} points",
            verdict(max(points) <= POINTS_TARGET)))
        spread = sorted(abs(d) for d in result["splits"][budget])
        within = sum(d <= POINTS_TARGET for d in spread) / len(spread)
        out.append(Row(
            f"Same, over {len(spread)} random halves (same task mix): held-out share within "
            f"±{POINTS_TARGET:.0f} points of {budget:.0%}", f"{within:.0%} of splits",
            f"deviation: median {statistics.median(spread):.1f} points, "
            f"p90 {spread[int(0.9 * len(spread)) - 1]:.1f}", "-", "report", INFO))
    return out


def notes(result: dict) -> list[str]:
    parts = []
    for budget, pairs in result["per_budget"].items():
        mean = sum(p[2] for p in pairs) / len(pairs)
        parts.append(f"{budget:.0%} (mean of both ways {mean:.1%}): " + "; ".join(
            f"threshold {t:.3f} (share on its own half {own:.1%}, held-out {held:.1%}, "
            f"{(held - budget) * 100:+.1f} points)" for t, own, held in pairs))
    return [f"calibration: {result['requests']} labelled requests, each one "
            f"{result['max_tokens']}-token local answer (its preset's prompt and sampling, "
            f"seed 1234), {result['measured']} with token log-probabilities, scored in "
            f"{result['seconds']:.0f} s; signal: the answer's 10th-percentile token "
            "log-probability; halves alternate the requests of each task; per budget (first "
            "half -> second; second -> first): " + " | ".join(parts)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS)
    args = parser.parse_args(argv)
    result = run(starter_model_path(args.model), args.threads, max_tokens=args.max_tokens)
    print(markdown_table(rows(result)))
    print("\n".join(f"- {line}" for line in notes(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
