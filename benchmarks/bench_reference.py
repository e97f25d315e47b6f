"""Scalpel against llama.cpp itself: decode vs llama-bench tg128, first token vs pp256.

Each round runs, in a rotating order: a bare llama-cpp-python decode loop,
Scalpel's decode (in this process, and through the engine process the window
uses), Scalpel's time to first token on a ~256-token prompt, and ``llama-bench
-p 256`` and ``-n 128 -d <prompt> -r 3`` on the same model and thread count.
Ratios are taken within each round, then their median, so machine noise and
drifting load hit every side alike.

Like with like: every side decodes ``DECODE_TOKENS`` tokens greedily with the same
threads, the engine's flash-attention setting and compute step (``LoadOptions``).
Scalpel's reply starts after its chat prompt, so llama-bench's tg runs at that
depth (``-d``), not from an empty context. Scalpel's in-process rate is over the
tokens after the first (its ``ReplyStats``); the engine process's is taken as the
window sees it, first text to the final event, pipe included; llama-bench's is
over its decodes. The target (>= 0.95) is against llama-bench with the same
attention setting. Context size matters too: llama-bench sizes its context to
the test (256 cells here), and llama.cpp decodes slower with a bigger cache even
while it is mostly empty. The engine opens a context of 512 cells and grows it
with the conversation (``context_cells.py``), up to its 4,096-token setting; a
third Scalpel side with exactly llama-bench's 256 cells shows what is left of
that difference. The engine's flash attention is "auto", on for a model on the
CPU, like llama-bench's own default (``-fa auto``); were it set off, llama-bench's
default would run too and be reported beside.

The time to first token is taken as the caller sees it: from calling
``generate`` to the first event back (``max_tokens=1``), which includes the
prompt template and tokenizing.

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
from benchmarks.bench_decode import (DEFAULT_CTX, DEFAULT_THREADS, MESSAGES, alternate,  # noqa: E402
                                     decode_runs, open_bare, open_engine, prompt_tokens,
                                     scalpel_rate, starter_model_path)
from benchmarks.bench_engine_process import observed_decode  # noqa: E402
from benchmarks.report import (INFO, SKIPPED, Row, at_least, format_ratio,  # noqa: E402
                               load_average, markdown_table)
from desktop_app.core.engine import GenerationParams, LoadOptions  # noqa: E402
from desktop_app.core.engine.context_cells import FIRST_CELLS  # noqa: E402

PROMPT_TOKENS = 256
DECODE_TOKENS = 128
FILLER = ("Harbour log: the ferry Marigold docked at pier four at dawn with timber, "
          "salt and two crates of lamp oil; the wind was from the north-west. ")
NO_BENCH = "llama-bench not built (run the suite with --build-llama-bench)"
# The engine's, as open_engine loads: None is "auto", on for a model on the CPU
# (core/offload.flash_attention), as these benchmarks run.
FLASH_ATTN = {None: "on", True: "on", False: "off"}[LoadOptions().flash_attn]
UBATCH = LoadOptions().n_ubatch
# llama-bench sizes its context to its test: tg128 after Scalpel's ~44-token prompt needs
# 172 cells, which llama.cpp rounds up to 256. The engine opens with 512 and grows.
FITTED_CTX = 256


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
    with engine.generate(messages, GenerationParams(max_tokens=1, temperature=0.0)) as handle:
        next(handle)  # the first read starts the request
        seconds = time.perf_counter() - started
        return seconds, handle.result().stats


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

    def versus_default(self, name: str = "scalpel") -> list[float]:
        """``name`` / llama-bench tg with its default flash attention (-fa auto), per round."""
        return [a / b.tg_tps_default for a, b in zip(self.rates[name], self.bench)
                if b.tg_tps_default]

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
            binary: Path | None, process=None, fitted=None) -> Comparison:
    """The rounds: bare decode, Scalpel decode (in this process; through ``process``, an
    ``EngineProcess`` on the same model; with ``fitted``, an engine whose context is sized
    like llama-bench's; each when given), Scalpel TTFT and (if built) llama-bench."""
    result = Comparison()
    runs = decode_runs(engine, bare, DECODE_TOKENS, result.counts)
    result.depth = len(prompt_tokens(engine, bare, MESSAGES))
    salt = itertools.count()
    lines, words = calibrate(engine, salt)

    def run_ttft() -> float:
        seconds, stats = first_event(engine, long_prompt(next(salt), lines, words))
        result.ttft_stats.append(stats)
        return seconds

    def run_process() -> float:
        rate, count = observed_decode(process, DECODE_TOKENS)
        result.counts.add(("scalpel-process", count))
        return rate

    def run_llama_bench() -> float:
        figures = llama_bench.run(binary, model, threads, prompt=PROMPT_TOKENS,
                                  gen=DECODE_TOKENS, repetitions=3, depth=result.depth,
                                  flash_attn=FLASH_ATTN, with_default=FLASH_ATTN != "on",
                                  ubatch=UBATCH)
        result.bench.append(figures)
        return figures.tg_tps  # with Scalpel's attention setting

    def run_fitted() -> float:
        rate, count = scalpel_rate(fitted, DECODE_TOKENS)
        result.counts.add(("scalpel-fitted", count))
        return rate

    if process is not None:
        runs["scalpel-process"] = run_process
    if fitted is not None:
        runs["scalpel-fitted"] = run_fitted
    runs["ttft"] = run_ttft
    if binary is not None:
        runs["llama-bench"] = run_llama_bench
    result.rates = alternate(runs, rounds)
    return result


def open_engine_process(model: str, threads: int):
    """The window's engine (``EngineProcess``) with ``model`` loaded as ``open_engine`` does."""
    from desktop_app.core.engine.process import EngineProcess

    process = EngineProcess()
    process.load(model, LoadOptions(n_ctx=DEFAULT_CTX, n_threads=threads))
    return process


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def decode_rows(c: Comparison) -> list[Row]:
    """Medians of each side; the ratio is the median of the per-round ratios."""
    scalpel, bare = c.median("scalpel"), c.median("bare")
    versus_bare = median_or_none(c.per_round("scalpel", "bare"))
    rows = [Row("Decode tok/s (vs bare `Llama.generate` loop)", f"{scalpel:.1f}",
                f"{bare:.1f}", format_ratio(versus_bare), "≥ 0.97", at_least(versus_bare, 0.97))]
    sides = [("scalpel", f"Scalpel (as the app loads it: {DEFAULT_CTX:,}-token context, "
                         f"{FIRST_CELLS} cells grown on demand)")]
    if "scalpel-process" in c.rates:
        sides.append(("scalpel-process", "Scalpel's engine process, as the window sees it"))
    if "scalpel-fitted" in c.rates:
        sides.append(("scalpel-fitted", f"Scalpel, context sized like llama-bench's "
                                        f"({FITTED_CTX} cells)"))
    if not c.bench:
        return [Row(f"Decode tok/s, tg{DECODE_TOKENS}, {label} (vs llama-bench)",
                    f"{c.median(name):.1f}", f"skipped: {NO_BENCH}", "-", "≥ 0.95", SKIPPED)
                for name, label in sides] + rows
    same = []
    for name, label in sides:
        ratio = median_or_none(c.per_round(name, "llama-bench"))
        same.append(Row(f"Decode tok/s, tg{DECODE_TOKENS} @ d{c.depth}, {label} (vs llama-bench "
                        f"-fa {FLASH_ATTN} -ub {UBATCH}, the same settings)",
                        f"{c.median(name):.1f}", f"{c.median('llama-bench'):.1f}",
                        format_ratio(ratio), "≥ 0.95", at_least(ratio, 0.95)))
    if FLASH_ATTN != "on":
        default = median_or_none(c.versus_default())
        same.append(Row(f"Decode tok/s, tg{DECODE_TOKENS} @ d{c.depth}, Scalpel (vs llama-bench "
                        f"defaults: -fa auto, i.e. on; Scalpel keeps it off, see "
                        f"bench_attention)", f"{scalpel:.1f}",
                        f"{statistics.median(b.tg_tps_default for b in c.bench):.1f}",
                        format_ratio(default), "report", INFO))
    return same + rows


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
    process = ""
    if "scalpel-fitted" in c.rates:
        process += (f"; Scalpel with a {FITTED_CTX}-cell context "
                    f"{fmt(c.rates['scalpel-fitted'])}")
    if "scalpel-process" in c.rates:
        process += (f"; engine process {fmt(c.rates['scalpel-process'])} (as the window sees it); "
                   f"process / in-process per round "
                   f"{fmt(c.per_round('scalpel-process', 'scalpel'), 2)}")
    lines = ["ratios in the llama-bench/bare rows are medians of per-round ratios (each round "
             "runs every side once, in rotating order); the figures beside them are medians",
             f"decode rounds, tok/s: bare loop {fmt(c.rates['bare'])}; "
             f"Scalpel {fmt(c.rates['scalpel'])}; Scalpel / bare per round "
             f"{fmt(c.per_round('scalpel', 'bare'), 2)}{process}; tokens decoded per side "
             f"{sorted(c.counts)}",
             f"TTFT rounds, ms: {fmt([s * 1000 for s in c.rates['ttft']])} (the engine's own "
             f"figure: {fmt([s.time_to_first_token_s * 1000 for s in c.ttft_stats])}); "
             f"prompt {c.ttft_stats[0].prompt_tokens} tokens, "
             f"{c.ttft_stats[0].cached_prompt_tokens} reused from the cache"]
    if c.bench:
        first = c.bench[0]
        defaults = [b.tg_tps_default for b in c.bench if b.tg_tps_default]
        lines.append(f"llama-bench ({first.build_commit}, -t {first.n_threads}, -ub {UBATCH}, "
                     f"-r 3; pp{PROMPT_TOKENS} from an empty context, "
                     f"tg{DECODE_TOKENS} @ d{first.tg_depth}: after a prompt as long as "
                     f"Scalpel's) rounds: tg{DECODE_TOKENS} "
                     f"{fmt(c.rates['llama-bench'])} tok/s (-fa {first.flash_attn}), "
                     f"{fmt(defaults)} tok/s (-fa auto); "
                     f"pp{PROMPT_TOKENS} (-fa {first.flash_attn}) "
                     f"{fmt([b.pp_tps for b in c.bench])} tok/s; per round: Scalpel / tg "
                     f"{fmt(c.per_round('scalpel', 'llama-bench'), 2)}, Scalpel / tg -fa auto "
                     f"{fmt(c.versus_default(), 2)}, bare / tg "
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
    process = open_engine_process(model, args.threads)
    fitted = open_engine(model, args.threads, FITTED_CTX)
    load_at_start = load_average()
    try:
        c = compare(engine, bare, model, args.threads, args.rounds, binary, process, fitted)
    finally:
        engine.unload()
        fitted.unload()
        process.unload()
        bare.close()
    print(markdown_table(decode_rows(c) + [ttft_row(c)]))
    print("\n".join(["", *notes(c), f"load average: {load_at_start} at the start, "
                      f"{load_average()} at the end ({os.cpu_count()} logical CPUs)"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
