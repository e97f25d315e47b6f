"""Scalpel against llama.cpp itself: decode vs llama-bench tg128, first token vs pp256.

Each round runs, in a rotating order: a bare llama-cpp-python decode loop,
Scalpel's decode, Scalpel's time to first token on a ~256-token prompt, and
``llama-bench -p 256`` and ``-n 128 -d <prompt> -r 3`` on the same model and thread
count. Ratios are taken within each round, then their median, so machine noise
and drifting load hit every side alike.

Like with like: every side decodes ``DECODE_TOKENS`` tokens greedily with the same
threads. Scalpel's reply starts after its chat prompt, so llama-bench's tg runs at
that depth (``-d``), not from an empty context. Scalpel's rate is over the tokens
after the first (its ``ReplyStats``), llama-bench's over its decodes. The target
compares with llama-bench as it runs by default (``-fa auto``: flash attention on,
for CPU); when Scalpel's ``LoadOptions.flash_attn`` is off, llama-bench also runs tg
with ``-fa off`` and that ratio is reported beside (flash attention is faster in a
short context, slower in a long one: ``bench_attention.py``). The bare loop and
llama-bench's pp use Scalpel's setting.

The time to first token is taken as the caller sees it: from calling
``generate`` to the first event back (``max_tokens=1``), which includes the
prompt template, tokenizing and, for an engine in a child process, the pipe.

    python benchmarks/bench_reference.py [--threads 2] [--rounds 5] [--build]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import llama_bench  # noqa: E402
from benchmarks.bench_decode import (DEFAULT_THREADS, MESSAGES, alternate,  # noqa: E402
                                     decode_runs, open_bare, open_engine, prompt_tokens,
                                     starter_model_path)
from benchmarks.report import (INFO, SKIPPED, Row, at_least, format_ratio,  # noqa: E402
                               load_average, markdown_table)
from desktop_app.core.engine import GenerationParams, LoadOptions  # noqa: E402

PROMPT_TOKENS = 256
DECODE_TOKENS = 128
FILLER = ("Harbour log: the ferry Marigold docked at pier four at dawn with timber, "
          "salt and two crates of lamp oil; the wind was from the north-west. ")
NO_BENCH = "llama-bench not built (run the suite with --build-llama-bench)"
FLASH_ATTN = "on" if LoadOptions().flash_attn else "off"  # the engine's, as open_engine loads


def long_prompt(salt: int, lines: int, words: int = 0) -> list[dict[str, str]]:
    """A chat of ``lines`` log lines and ``words`` one-token words.

    The system message opens with a one-token letter that changes with ``salt``:
    consecutive prompts share only the template's first 3 tokens, so each reads
    the same number of tokens (prompt minus those 3).
    """
    return [{"role": "system", "content": f"{chr(65 + salt % 26)}: you summarise harbour logs."},
            {"role": "user", "content": "Summarise this log.\n" + FILLER * lines
             + " ok" * words}]


def first_event(engine, messages: list[dict[str, str]]) -> tuple[float, object]:
    """Seconds from ``generate`` to its first event, and the reply's stats."""
    started = time.perf_counter()
    stream = iter(engine.generate(messages, GenerationParams(max_tokens=1, temperature=0.0)))
    events = [next(stream)]
    seconds = time.perf_counter() - started
    events.extend(stream)
    return seconds, events[-1].stats


def evaluated(engine, salt: int, lines: int, words: int) -> int:
    """Prompt tokens the engine reads (not reused from its cache) for that prompt."""
    stats = first_event(engine, long_prompt(salt, lines, words))[1]
    return stats.prompt_tokens - stats.cached_prompt_tokens


def calibrate(engine, salts: Iterator[int], target: int = PROMPT_TOKENS) -> tuple[int, int]:
    """(lines, words) that make the engine read about ``target`` prompt tokens."""
    def size(lines: int, words: int) -> int:
        return evaluated(engine, next(salts), lines, words)

    one, five = size(1, 0), size(5, 0)
    lines = max(1, int(1 + (target - one) / ((five - one) / 4)))
    words = max(0, target - size(lines, 0))
    return lines, max(0, words + target - size(lines, words))


@dataclass
class Comparison:
    rates: dict[str, list[float]] = field(default_factory=dict)
    ttft_stats: list = field(default_factory=list)      # ReplyStats of each TTFT round
    bench: list[llama_bench.BenchFigures] = field(default_factory=list)
    counts: set = field(default_factory=set)            # (side, tokens decoded)
    depth: int = 0                                      # Scalpel's prompt: tg starts there

    def median(self, name: str) -> float:
        return statistics.median(self.rates[name])

    def per_round(self, name: str, reference: str) -> list[float]:
        """``name / reference`` within each round: paired, so slow drifts in load cancel."""
        return [a / b for a, b in zip(self.rates[name], self.rates[reference]) if b]

    def versus_same_attention(self) -> list[float]:
        """Scalpel / llama-bench tg run with Scalpel's flash-attention setting, per round."""
        return [a / b.tg_tps for a, b in zip(self.rates["scalpel"], self.bench) if b.tg_tps]

    def pp_seconds(self) -> list[float]:
        """llama-bench's time for the prompt Scalpel read, round by round."""
        return [(s.prompt_tokens - s.cached_prompt_tokens) / b.pp_tps
                for s, b in zip(self.ttft_stats, self.bench)]

    def ttft_per_round(self) -> list[float]:
        return [t / p for t, p in zip(self.rates["ttft"], self.pp_seconds())]

    @property
    def evaluated_tokens(self) -> int:
        """Prompt tokens actually read (not reused from the cache), median over rounds."""
        return round(statistics.median(s.prompt_tokens - s.cached_prompt_tokens
                                       for s in self.ttft_stats))


def compare(engine, bare, model: str, threads: int, rounds: int,
            binary: Path | None) -> Comparison:
    """The rounds: bare decode, Scalpel decode, Scalpel TTFT and (if built) llama-bench."""
    result = Comparison()
    runs = decode_runs(engine, bare, DECODE_TOKENS, result.counts)
    result.depth = len(prompt_tokens(engine, bare, MESSAGES))
    salt = itertools.count()
    lines, words = calibrate(engine, salt)

    def run_ttft() -> float:
        seconds, stats = first_event(engine, long_prompt(next(salt), lines, words))
        result.ttft_stats.append(stats)
        return seconds

    def run_llama_bench() -> float:
        figures = llama_bench.run(binary, model, threads, prompt=PROMPT_TOKENS,
                                  gen=DECODE_TOKENS, repetitions=3, depth=result.depth,
                                  flash_attn=FLASH_ATTN, with_default=FLASH_ATTN != "on")
        result.bench.append(figures)
        return figures.tg_tps_default or figures.tg_tps  # llama-bench's defaults

    runs["ttft"] = run_ttft
    if binary is not None:
        runs["llama-bench"] = run_llama_bench
    # ---- Scalpel (engine process): the second Scalpel side goes here -----------------
    # Not built yet. With desktop_app/core/engine/process.py's EngineProcess (same API
    # as LlamaEngine) opened on the same model and threads, add its decode as one more
    # side of every round, e.g.
    #     runs["scalpel-process"] = lambda: scalpel_rate(process_engine, DECODE_TOKENS)[0]
    # (recording its token count in result.counts as decode_runs does), and a row in
    # decode_rows from c.per_round("scalpel-process", "llama-bench"), same ≥ 0.95 target.
    # ----------------------------------------------------------------------------------
    result.rates = alternate(runs, rounds)
    return result


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def decode_rows(c: Comparison) -> list[Row]:
    """Medians of each side; the ratio is the median of the per-round ratios."""
    scalpel, bare = c.median("scalpel"), c.median("bare")
    versus_bare = median_or_none(c.per_round("scalpel", "bare"))
    metric = f"Decode tok/s, tg{DECODE_TOKENS} (vs llama-bench)"
    rows = [Row("Decode tok/s (vs bare `Llama.generate` loop)", f"{scalpel:.1f}",
                f"{bare:.1f}", format_ratio(versus_bare), "≥ 0.97", at_least(versus_bare, 0.97))]
    if not c.bench:
        return [Row(metric, f"{scalpel:.1f}", f"skipped: {NO_BENCH}", "-", "≥ 0.95",
                    SKIPPED)] + rows
    versus_bench = median_or_none(c.per_round("scalpel", "llama-bench"))
    metric = (f"Decode tok/s, tg{DECODE_TOKENS} @ d{c.depth} (vs llama-bench defaults: "
              f"-fa auto; Scalpel -fa {FLASH_ATTN})")
    rows.insert(0, Row(metric, f"{scalpel:.1f}", f"{c.median('llama-bench'):.1f}",
                       format_ratio(versus_bench), "≥ 0.95", at_least(versus_bench, 0.95)))
    if FLASH_ATTN != "on":
        same = median_or_none(c.versus_same_attention())
        rows.insert(1, Row(f"Decode tok/s, tg{DECODE_TOKENS} @ d{c.depth} (vs llama-bench "
                           f"-fa {FLASH_ATTN}, Scalpel's attention)", f"{scalpel:.1f}",
                           f"{statistics.median(b.tg_tps for b in c.bench):.1f}",
                           format_ratio(same), "report", INFO))
    return rows


def ttft_row(c: Comparison) -> Row:
    ttft = c.median("ttft")
    metric = f"TTFT, {c.evaluated_tokens}-token prompt (vs llama-bench pp{PROMPT_TOKENS} time)"
    if not c.bench:
        return Row(metric, f"{ttft * 1000:.0f} ms", f"skipped: {NO_BENCH}", target="report",
                   verdict=SKIPPED)
    pp_tps = llama_bench.median_figures(c.bench).pp_tps
    return Row(metric, f"{ttft * 1000:.0f} ms", f"{statistics.median(c.pp_seconds()) * 1000:.0f}"
               f" ms ({pp_tps:.0f} tok/s)", format_ratio(median_or_none(c.ttft_per_round())),
               "report", INFO)


def notes(c: Comparison) -> list[str]:
    """Every round's figures, for judging the noise behind the medians."""
    lines = ["ratios in the llama-bench/bare rows are medians of per-round ratios (each round "
             "runs every side once, in rotating order); the figures beside them are medians",
             f"decode rounds, tok/s: bare loop {fmt(c.rates['bare'])}; "
             f"Scalpel {fmt(c.rates['scalpel'])}; Scalpel / bare per round "
             f"{fmt(c.per_round('scalpel', 'bare'), 2)}; tokens decoded per side "
             f"{sorted(c.counts)}",
             f"TTFT rounds, ms: {fmt([s * 1000 for s in c.rates['ttft']])} (the engine's own "
             f"figure: {fmt([s.time_to_first_token_s * 1000 for s in c.ttft_stats])}); "
             f"prompt {c.ttft_stats[0].prompt_tokens} tokens, "
             f"{c.ttft_stats[0].cached_prompt_tokens} reused from the cache"]
    if c.bench:
        first = c.bench[0]
        lines.append(f"llama-bench ({first.build_commit}, -t {first.n_threads}, "
                     f"-r 3; pp{PROMPT_TOKENS} from an empty context, "
                     f"tg{DECODE_TOKENS} @ d{first.tg_depth}: after a prompt as long as "
                     f"Scalpel's) rounds: tg{DECODE_TOKENS} "
                     f"{fmt(c.rates['llama-bench'])} tok/s (-fa auto), "
                     f"{fmt([b.tg_tps for b in c.bench])} tok/s (-fa {first.flash_attn}); "
                     f"pp{PROMPT_TOKENS} (-fa {first.flash_attn}) "
                     f"{fmt([b.pp_tps for b in c.bench])} tok/s; per round: Scalpel / tg "
                     f"{fmt(c.per_round('scalpel', 'llama-bench'), 2)}, Scalpel / tg -fa "
                     f"{first.flash_attn} {fmt(c.versus_same_attention(), 2)}, bare / tg "
                     f"{fmt(c.per_round('bare', 'llama-bench'), 2)}, TTFT / pp time "
                     f"{fmt(c.ttft_per_round(), 2)}")
    return lines


def fmt(values: list[float], digits: int = 1) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF path (default: the starter SmolLM2)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--build", action="store_true", help="build llama-bench if missing")
    args = parser.parse_args()
    binary = llama_bench.binary_path() or (llama_bench.build() if args.build else None)
    model = starter_model_path(args.model)
    engine, bare = open_engine(model, args.threads), open_bare(model, args.threads)
    load_at_start = load_average()
    try:
        c = compare(engine, bare, model, args.threads, args.rounds, binary)
    finally:
        engine.unload()
        bare.close()
    print(markdown_table(decode_rows(c) + [ttft_row(c)]))
    print("\n".join(["", *notes(c), f"load average: {load_at_start} at the start, "
                      f"{load_average()} at the end ({os.cpu_count()} logical CPUs)"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
