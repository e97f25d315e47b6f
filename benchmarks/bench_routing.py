"""Routing time per message, per step, over tests/data/routing_requests.jsonl.

    python benchmarks/bench_routing.py [--model-step] [--threads N]

Each step alone (signals, examples) and the whole decision without a model: median and
p95 in milliseconds over every labelled request. With ``--model-step``, the model step
on SmolLM2 (LlamaEngine in this process) over 42 of them, with its accuracy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from desktop_app.core.preset_store import PresetStore  # noqa: E402
from desktop_app.core.resources import resource_path  # noqa: E402
from desktop_app.core.routing import Router  # noqa: E402
from routing_eval import load_requests  # noqa: E402


def timed(route, rows) -> tuple[list[float], int]:
    times, right = [], 0
    for row in rows:
        start = time.perf_counter()
        decision = route(row["text"])
        times.append((time.perf_counter() - start) * 1000)
        right += decision.preset_id == row["task"]
    return times, right


def line(name: str, times: list[float], right: int, count: int) -> str:
    ordered = sorted(times)
    p95 = ordered[max(0, int(round(0.95 * len(ordered))) - 1)]
    return (f"| {name} | {count} | {statistics.median(times):.3f} | {p95:.3f} | "
            f"{right / count:.1%} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-step", action="store_true")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    presets = PresetStore(builtin_dir=resource_path("presets"),
                          user_dir=Path(tempfile.mkdtemp())).list()
    rows = load_requests()
    router = Router(presets)
    for row in rows[:20]:  # warm up
        router.route(row["text"])
    print("| step | messages | median ms | p95 ms | right |\n|---|---|---|---|---|")
    for name, steps in (("signals alone", ("signals",)), ("examples alone", ("examples",)),
                        ("signals -> examples -> default", ("signals", "examples"))):
        times, right = timed(lambda t, s=steps: router.route(t, steps=s), rows)
        print(line(name, times, right, len(rows)))
    if args.model_step:
        from desktop_app.core.engine import LlamaEngine, LoadOptions
        from desktop_app.core.models import find_starter_model
        from test_routing_model import subset

        engine = LlamaEngine()
        engine.load(find_starter_model().path, LoadOptions(n_ctx=2048, n_threads=args.threads))
        model_router = Router(presets, engine=engine)
        model_router.route("warm up the prompt cache", steps=("model",))
        picked = subset()
        times, right = timed(lambda t: model_router.route(t, steps=("model",)), picked)
        print(line("model alone (SmolLM2)", times, right, len(picked)))
        engine.unload()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
