"""Flash attention on or off: Scalpel's decode and prompt speed as the context fills.

llama.cpp's default (``-fa auto``) turns flash attention on for CPU models, and
``llama-bench tg128`` (an empty context) shows it faster. A chat's context is not
empty: this loads the model twice through the engine's public API, with
``LoadOptions(flash_attn=False)`` and ``True``, and at several context depths times
a greedy reply (decode tok/s, from ``ReplyStats``) and its prompt (prompt tok/s:
the tokens read divided by the time to first token). Rounds alternate the two
engines; ratios are per round, then their median.

    python benchmarks/bench_attention.py [--depths 50,300,1000,2500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_decode import DEFAULT_CTX, DEFAULT_THREADS, starter_model_path  # noqa: E402
from benchmarks.bench_reference import FILLER  # noqa: E402
from desktop_app.core.engine import GenerationParams, LlamaEngine, LoadOptions  # noqa: E402

ASK = "Continue this log with a long, detailed story of the next day at the harbour."


def chat(salt: int, lines: int) -> list[dict[str, str]]:
    """A prompt of ``lines`` log lines; ``salt`` changes its first token, so that each
    round reads the whole prompt again (nothing reused from the KV cache)."""
    return [{"role": "system", "content": f"{chr(65 + salt % 26)}: you continue harbour logs."},
            {"role": "user", "content": FILLER * lines + "\n" + ASK}]


def lines_for(engine, depth: int) -> int:
    """Log lines that make a prompt of about ``depth`` tokens."""
    base = engine.count_prompt_tokens(chat(0, 0))
    per_line = (engine.count_prompt_tokens(chat(0, 10)) - base) / 10
    return max(0, round((depth - base) / per_line))


def reply(engine, messages, tokens: int) -> tuple[float, float, int, int]:
    """(decode tok/s, prompt tok/s, prompt tokens, tokens generated) of one greedy reply."""
    events = list(engine.generate(messages, GenerationParams(temperature=0.0,
                                                             max_tokens=tokens)))
    stats = events[-1].stats
    read = stats.prompt_tokens - stats.cached_prompt_tokens
    return (stats.decode_tokens_per_s, read / stats.time_to_first_token_s, stats.prompt_tokens,
            stats.completion_tokens)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF path (default: the starter SmolLM2)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--ctx", type=int, default=DEFAULT_CTX)
    parser.add_argument("--depths", default="50,300,1000,2500")
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = starter_model_path(args.model)
    engines = {}
    for flash in (False, True):
        engines[flash] = LlamaEngine()
        engines[flash].load(model, LoadOptions(n_ctx=args.ctx, n_threads=args.threads,
                                               flash_attn=flash))
    depths = [int(d) for d in args.depths.split(",")]
    lines = {d: lines_for(engines[False], d) for d in depths}
    salt = itertools.count(1)
    found: dict[tuple[bool, int], list[tuple[float, float, int, int]]] = {}
    load_at_start = os.getloadavg()
    try:
        for round_no in range(args.rounds):
            for depth in depths:
                messages = chat(next(salt), lines[depth])
                order = (False, True) if round_no % 2 == 0 else (True, False)
                for flash in order:
                    found.setdefault((flash, depth), []).append(
                        reply(engines[flash], messages, args.tokens))
    finally:
        for engine in engines.values():
            engine.unload()
    print(f"model {Path(model).name}, {args.threads} threads, n_ctx {args.ctx}, "
          f"{args.rounds} rounds; load average {load_at_start} -> {os.getloadavg()}\n")
    print("| prompt tokens | decode tok/s, fa off | fa on | on / off | "
          "prompt tok/s, fa off | fa on | on / off | tokens generated (off, on) |")
    print("|---|---|---|---|---|---|---|---|")
    for depth in depths:
        off, on = found[(False, depth)], found[(True, depth)]

        def median(runs, i):
            return statistics.median(r[i] for r in runs)

        def ratio(i):
            return statistics.median(b[i] / a[i] for a, b in zip(off, on) if a[i])

        print(f"| {off[0][2]} | {median(off, 0):.1f} | {median(on, 0):.1f} | {ratio(0):.2f} | "
              f"{median(off, 1):.0f} | {median(on, 1):.0f} | {ratio(1):.2f} | "
              f"{sorted({r[3] for r in off})}, {sorted({r[3] for r in on})} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
