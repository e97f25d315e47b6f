"""What a task preset costs: decode speed with the JSON preset's grammar vs free text.

Same engine, model, threads and prompt; the JSON round sends the "Extract to
JSON" preset's parameters as the window does (its ``json_schema``, which the
engine turns into a llama.cpp grammar), the free round the same preset without
the schema. Rounds alternate so machine noise hits both alike; the figure is the
ratio. Each round also says whether its answer parsed as JSON.

    python benchmarks/bench_presets.py [--model PATH] [--threads N] [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from desktop_app.core.engine import LlamaEngine, LoadOptions  # noqa: E402
from desktop_app.core.models import find_starter_model  # noqa: E402
from desktop_app.core.preset_store import PresetStore  # noqa: E402
from desktop_app.core.resources import resource_path  # noqa: E402

TEXT = ("Invoice 2291 from Northwind Traders in Seattle: 12 chairs for $1,450, due 30 June "
        "2025, contact Jane Park at the Portland office.")


def rate(engine: LlamaEngine, messages, params) -> tuple[float, int, bool]:
    """(decode tok/s, tokens, whether the answer is JSON) of one reply."""
    with engine.generate(messages, params) as handle:
        finished = handle.result()
    return (finished.stats.decode_tokens_per_s, finished.stats.completion_tokens,
            is_json(finished.text))


def is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    model = args.model or find_starter_model().path
    store = PresetStore(builtin_dir=resource_path("presets"), user_dir=Path("/nonexistent"))
    preset = store.get("json")
    messages = preset.messages([{"role": "user", "content": preset.user_content(TEXT)}])
    with_grammar = replace(preset.generation_params(), max_tokens=200)
    if not with_grammar.json_schema:
        raise SystemExit("the 'json' preset has no output schema: nothing to compare")
    free = replace(with_grammar, json_schema=None, grammar=None)  # the schema is the constraint
    engine = LlamaEngine()
    info = engine.load(model, LoadOptions(n_ctx=2048, n_threads=args.threads))
    rate(engine, messages, free)  # warm-up
    rates: dict[str, list[float]] = {"json grammar": [], "free text": []}
    for round_ in range(args.rounds):
        order = [("json grammar", with_grammar), ("free text", free)]
        for name, params in order if round_ % 2 == 0 else reversed(order):
            tok_s, n, valid = rate(engine, messages, params)
            rates[name].append(tok_s)
            print(f"round {round_ + 1} {name:<12} {tok_s:7.1f} tok/s ({n} tokens, "
                  f"{'valid' if valid else 'not'} JSON)")
    json_rate, free_rate = (statistics.median(rates[k]) for k in ("json grammar", "free text"))
    print(f"\n{info.name}, {info.n_threads} thread(s), median of {args.rounds} rounds")
    print("| decoding | tok/s |\n|---|---|")
    print(f"| free text | {free_rate:.1f} |\n| JSON grammar | {json_rate:.1f} |")
    print(f"ratio grammar / free: {json_rate / free_rate:.2f}")
    engine.unload()
    return 0


if __name__ == "__main__":
    sys.exit(main())
