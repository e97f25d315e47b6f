"""Routing time per message, per step, over tests/data/routing_requests.jsonl.

    python benchmarks/bench_routing.py [--model-step] [--threads N]

Each step alone (signals, examples) and the whole decision without a model: median and
p95 in milliseconds over every labelled request (target, issue 15: the cheap signals under
5 ms). With ``--model-step``, the model step on SmolLM2 (LlamaEngine in this process) over
42 of them, and the whole decision (every step) for the messages the cheap steps leave to
the model (a third of the set; target: under 150 ms when the chat model decides), with
their accuracy.
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

from benchmarks.report import INFO, Row, below  # noqa: E402
from desktop_app.core.preset_store import PresetStore  # noqa: E402
from desktop_app.core.resources import resource_path  # noqa: E402
from desktop_app.core.routing import Router  # noqa: E402
from routing_eval import load_requests  # noqa: E402

SIGNALS_TARGET_MS = 5.0
MODEL_DECISION_TARGET_MS = 150.0
CHEAP = (("signals alone", ("signals",)), ("examples alone", ("examples",)),
         ("signals -> examples -> default", ("signals", "examples")))


def timed(route, rows) -> tuple[list[float], int]:
    times, right = [], 0
    for row in rows:
        start = time.perf_counter()
        decision = route(row["text"])
        times.append((time.perf_counter() - start) * 1000)
        right += decision.preset_id == row["task"]
    return times, right


def p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


def line(name: str, times: list[float], right: int, count: int) -> str:
    return (f"| {name} | {count} | {statistics.median(times):.3f} | {p95(times):.3f} | "
            f"{right / count:.1%} |")


def measure(*, model_step: bool = False, model: str | None = None,
            threads: int | None = None) -> dict:
    """{step name: (times in ms, right, count)} for the cheap steps, and with
    ``model_step`` the model alone and the whole decision where the model decided."""
    presets = PresetStore(builtin_dir=resource_path("presets"),
                          user_dir=Path(tempfile.mkdtemp())).list()
    rows = load_requests()
    router = Router(presets)
    for row in rows[:20]:  # warm up
        router.route(row["text"])
    figures: dict = {}
    for name, steps in CHEAP:
        times, right = timed(lambda t, s=steps: router.route(t, steps=s), rows)
        figures[name] = (times, right, len(rows))
    if model_step:
        from desktop_app.core.engine import LlamaEngine, LoadOptions
        from desktop_app.core.models import find_starter_model
        from test_routing_model import subset

        engine = LlamaEngine()
        engine.load(model or find_starter_model().path,
                    LoadOptions(n_ctx=2048, n_threads=threads))
        try:
            model_router = Router(presets, engine=engine)
            model_router.route("warm up the prompt cache", steps=("model",))
            picked = subset()
            times, right = timed(lambda t: model_router.route(t, steps=("model",)), picked)
            figures["model alone (SmolLM2)"] = (times, right, len(picked))
            whole, right = [], 0
            for row in rows[::3]:  # every step, as Auto runs it; kept where the model decided
                start = time.perf_counter()
                decision = model_router.route(row["text"])
                if decision.step == "model":
                    whole.append((time.perf_counter() - start) * 1000)
                    right += decision.preset_id == row["task"]
            if whole:
                figures["whole decision, where the model decided"] = (whole, right, len(whole))
        finally:
            engine.unload()
    return figures


def rows(figures: dict) -> list[Row]:
    out = []
    for name, (times, right, count) in figures.items():
        median = statistics.median(times)
        target, verdict = "report", INFO
        if name == "signals alone":
            target, verdict = f"< {SIGNALS_TARGET_MS:.0f} ms", below(p95(times), SIGNALS_TARGET_MS)
        elif name.startswith("whole decision"):
            target = f"< {MODEL_DECISION_TARGET_MS:.0f} ms"
            verdict = below(median, MODEL_DECISION_TARGET_MS)
        out.append(Row(f"Routing time per message, {name} ({count} messages, {right / count:.0%} "
                       "right)", f"median {median:.2f} ms", f"p95 {p95(times):.2f} ms", "-",
                       target, verdict))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-step", action="store_true")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    figures = measure(model_step=args.model_step, threads=args.threads)
    print("| step | messages | median ms | p95 ms | right |\n|---|---|---|---|---|")
    for name, (times, right, count) in figures.items():
        print(line(name, times, right, count))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
