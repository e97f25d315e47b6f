"""Time to first token as a chat grows: turn 1 against turn 10 (target: ratio <= 1.3).

Each turn sends a user message of the same size; the engine reuses the KV cache
for the shared prefix (the earlier turns), so only the new message should be
read. The chat is replayed ``--repeats`` times and the medians compared.

    python benchmarks/bench_chat_turns.py [--model PATH] [--threads N] [--turns 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import Row, at_most, format_ratio  # noqa: E402
from desktop_app.core.engine import GenerationParams, LlamaEngine, LoadOptions  # noqa: E402
from desktop_app.core.models import find_starter_model  # noqa: E402

USER_MESSAGE = ("Here is note number {n} for my records. The shipment of blue widgets left "
                "the warehouse on Monday, the invoice was paid on Tuesday, and the customer "
                "asked for a follow-up call next week about the spare parts. Please confirm.")


def replay(engine: LlamaEngine, turns: int, max_tokens: int,
           run: int) -> list[tuple[float, int, int]]:
    # The run number makes turn 1 of every replay start cold (nothing to reuse).
    history = [{"role": "system", "content": f"Replay {run}. You are a helpful assistant."}]
    figures = []
    for n in range(turns):
        history.append({"role": "user", "content": USER_MESSAGE.format(n=n + 1)})
        with engine.generate(history, GenerationParams(max_tokens=max_tokens,
                                                       temperature=0.0)) as handle:
            finished = handle.result()
        stats = finished.stats
        figures.append((stats.time_to_first_token_s, stats.prompt_tokens,
                        stats.cached_prompt_tokens))
        history.append({"role": "assistant", "content": finished.text})
    return figures


def replays(engine: LlamaEngine, turns: int = 10, repeats: int = 3,
            max_tokens: int = 48) -> list[list[tuple[float, int, int]]]:
    """``repeats`` replays of a ``turns``-turn chat: (TTFT, prompt, cached) per turn."""
    return [replay(engine, turns, max_tokens, run) for run in range(repeats)]


def first_and_last(runs: list[list[tuple[float, int, int]]]) -> tuple[float, float]:
    """Median time to first token at the first and at the last turn."""
    return (statistics.median(run[0][0] for run in runs),
            statistics.median(run[-1][0] for run in runs))


def turns_row(runs: list[list[tuple[float, int, int]]]) -> Row:
    """The suite's row: the last turn's TTFT against the first's (target <= 1.3)."""
    first, last = first_and_last(runs)
    turns, (_, prompt, cached) = len(runs[0]), runs[-1][-1]
    return Row(f"TTFT at turn {turns} ({prompt} prompt tokens, {cached} reused) vs turn 1",
               f"{last * 1000:.0f} ms", f"{first * 1000:.0f} ms",
               format_ratio(last / first), "≤ 1.3", at_most(last / first, 1.3))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args()
    engine = LlamaEngine()
    info = engine.load(args.model or find_starter_model().path,
                       LoadOptions(n_ctx=4096, n_threads=args.threads))
    runs = replays(engine, args.turns, args.repeats, args.max_tokens)
    print(f"{info.name}, {info.n_threads} thread(s), {args.repeats} replays\n")
    print("| turn | prompt tokens | reused from cache | time to first token (median) |")
    print("|---|---|---|---|")
    for turn in range(args.turns):
        ttft = statistics.median(run[turn][0] for run in runs)
        _, prompt, cached = runs[-1][turn]
        print(f"| {turn + 1} | {prompt} | {cached} | {ttft * 1000:.0f} ms |")
    first, last = first_and_last(runs)
    print(f"\nturn {args.turns} / turn 1 = {last / first:.2f} (target <= 1.3)")
    engine.unload()
    return 0


if __name__ == "__main__":
    sys.exit(main())
