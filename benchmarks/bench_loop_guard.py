"""How often answers fall into a loop, and what stopping them saves (engine/repetition.py).

Every labelled request of tests/data/routing_requests.jsonl is answered by the app's
engine with its task's preset (prompt and sampling, seed 1234), up to ``--tokens``, with
the loop guard on. Each answer the guard stopped is asked again with the guard off (same
seed) to show what it would have written: how many tokens more, and whether it ran to
the length limit. The rerun is the same answer only while it starts with the stopped
text: a prompt evaluated partly from the KV cache can flip a near-tie and the two part
ways ("diverged"). A faithful rerun that ended by itself would be a false alarm; they
are counted and printed.

    python benchmarks/bench_loop_guard.py [--tokens 256] [--limit N] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from desktop_app.core.engine import LlamaEngine, LoadOptions  # noqa: E402
from desktop_app.core.escalation import repetition_share  # noqa: E402
from desktop_app.core.models import find_starter_model  # noqa: E402
from desktop_app.core.preset_store import PresetStore  # noqa: E402
from desktop_app.core.resources import resource_path  # noqa: E402
from routing_eval import load_requests  # noqa: E402

SEED = 1234


def measure(*, tokens: int, limit: int | None, threads: int | None,
            model: str | None = None) -> dict:
    store = PresetStore(builtin_dir=resource_path("presets"), user_dir=Path("/nonexistent"))
    rows = load_requests()[:limit]
    engine = LlamaEngine(thread_probe=None)
    engine.load(model or find_starter_model().path, LoadOptions(n_ctx=2048, n_threads=threads))
    answered, stopped, false_alarms = 0, [], []
    started = time.perf_counter()
    try:
        for row in rows:
            preset = store.get(row["task"])
            messages = preset.messages([{"role": "user",
                                         "content": preset.user_content(row["text"])}])
            params = replace(preset.generation_params(), max_tokens=tokens, seed=SEED)
            guarded = engine.generate(messages, params).result()
            answered += 1
            if guarded.reason != "repetition":
                continue
            free = engine.generate(messages, replace(params, stop_loops=False)).result()
            case = {"task": row["task"], "text": row["text"][:60],
                    "stopped_at": guarded.stats.completion_tokens,
                    "unguarded": free.stats.completion_tokens, "reason": free.reason,
                    "loop_share": repetition_share(free.text),
                    "tail": guarded.text[-70:],
                    "seconds_saved": free.stats.total_s - guarded.stats.total_s}
            case["faithful"] = free.text.startswith(guarded.text.rstrip())
            stopped.append(case)
            if case["faithful"] and free.reason not in ("length", "context_full"):
                false_alarms.append(case)
            print(f"  stopped: {case['task']:10} at {case['stopped_at']} tokens; unguarded "
                  f"{case['unguarded']} ({case['reason']}, loop share "
                  f"{case['loop_share']:.0%}{'' if case['faithful'] else ', diverged'}): "
                  f"{case['tail']!r}", flush=True)
    finally:
        engine.unload()
    return {"answered": answered, "stopped": stopped, "false_alarms": false_alarms,
            "tokens": tokens, "minutes": (time.perf_counter() - started) / 60}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--model")
    args = parser.parse_args()
    figures = measure(tokens=args.tokens, limit=args.limit, threads=args.threads,
                      model=args.model)
    stopped = figures["stopped"]
    faithful = [c for c in stopped if c["faithful"]]
    saved = sum(c["unguarded"] - c["stopped_at"] for c in faithful)
    print(f"{figures['answered']} answers of up to {figures['tokens']} tokens "
          f"({figures['minutes']:.1f} min): {len(stopped)} stopped in a loop; of the "
          f"{len(faithful)} reruns that kept the same tokens, "
          f"{sum(c['reason'] in ('length', 'context_full') for c in faithful)} looped on to "
          f"the limit and {len(figures['false_alarms'])} ended by themselves; "
          f"{saved} tokens and {sum(c['seconds_saved'] for c in faithful):.1f} s not spent "
          f"on loops in those")
    return 0


if __name__ == "__main__":
    sys.exit(main())
