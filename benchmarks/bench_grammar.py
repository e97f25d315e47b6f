"""Greedy answers under a grammar: the top token checked alone first vs the grammar over
the whole vocabulary for every token.

The Extract to JSON preset answers greedily under its schema's grammar. llama.cpp's
grammar stage costs a pass over all 49,152 candidates per token; ``decode.Sampler``
first checks only the model's top token, which is the answer whenever the grammar
allows it (tests/test_grammar_first.py holds the answers identical). Both arms run
through the app's engine with the preset's prompt and sampling, alternating per
round; the figure is the median of the rounds' decode-speed ratios.

    python benchmarks/bench_grammar.py [--threads N] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_prompt_lookup import ORDER  # noqa: E402
from desktop_app.core.engine import LlamaEngine, LoadOptions, decode  # noqa: E402
from desktop_app.core.models import find_starter_model  # noqa: E402
from desktop_app.core.preset_store import PresetStore  # noqa: E402
from desktop_app.core.resources import resource_path  # noqa: E402

TARGET = 1.0   # never slower; the gain is reported


def measure(*, threads: int | None, rounds: int, model: str | None = None,
            tokens: int = 160) -> dict:
    store = PresetStore(builtin_dir=resource_path("presets"), user_dir=Path("/nonexistent"))
    preset = store.get("json")
    messages = preset.messages([{"role": "user", "content": preset.user_content(ORDER)}])
    params = replace(preset.generation_params(), max_tokens=tokens)
    shortcut = decode._greedy_under_grammar
    arms = {"top token first": shortcut, "whole vocabulary": lambda params: False}
    engine = LlamaEngine(thread_probe=None)
    engine.load(model or find_starter_model().path, LoadOptions(n_ctx=2048, n_threads=threads))
    rates: dict[str, list[float]] = {name: [] for name in arms}
    same = 0
    try:
        engine.generate(messages, replace(params, max_tokens=1)).result()  # prompt cached
        for round_ in range(rounds):
            texts = {}
            for name in (list(arms) if round_ % 2 == 0 else list(arms)[::-1]):
                decode._greedy_under_grammar = arms[name]
                finished = engine.generate(messages, params).result()
                rates[name].append(finished.stats.decode_tokens_per_s)
                texts[name] = finished.text
            same += len(set(texts.values())) == 1
            print(f"  round {round_ + 1}: " + "  ".join(
                f"{name} {values[-1]:6.1f}" for name, values in rates.items())
                + f"  same answer: {len(set(texts.values())) == 1}", flush=True)
    finally:
        decode._greedy_under_grammar = shortcut
        engine.unload()
    fast, slow = rates["top token first"], rates["whole vocabulary"]
    return {"fast": statistics.median(fast), "slow": statistics.median(slow),
            "ratio": statistics.median(a / b for a, b in zip(fast, slow)),
            "same": f"{same}/{rounds}", "rounds": rounds}


def row(figures: dict):
    from benchmarks import report

    return report.Row(f"Extract to JSON (greedy under its grammar), decode tok/s: top token "
                      f"checked first vs the grammar over every token (same answer in "
                      f"{figures['same']} rounds)", f"{figures['fast']:.1f}",
                      f"{figures['slow']:.1f}", report.format_ratio(figures["ratio"]),
                      f"≥ {TARGET}", report.at_least(figures["ratio"], TARGET))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    figures = measure(threads=args.threads, rounds=args.rounds, model=args.model)
    print(f"top token first {figures['fast']:.1f} tok/s, whole vocabulary "
          f"{figures['slow']:.1f} tok/s: ratio {figures['ratio']:.2f}; "
          f"same answer: {figures['same']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
