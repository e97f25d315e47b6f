"""The engine process: what the move out of the GUI's process costs, and how fast it reacts.

Side by side in one run, on the same GGUF and threads:

* decode tok/s as the caller sees it (first text to the end, so pipe and JSON are included):
  ``EngineProcess`` vs ``LlamaEngine`` in this process, alternating rounds, ratio per round;
* cancel latency during prompt evaluation: a ~1,500-token prompt, its request's handle
  cancelled (``Generation.cancel``) 150 ms after the request was sent; the time from
  ``cancel()`` to the final event (target 200 ms);
* recovery: SIGKILL the engine, then the time until the next answer's first text (a new
  process, the model reloaded, the prompt evaluated) next to a first answer's time.

    python benchmarks/bench_engine_process.py [--model PATH] [--threads 2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_decode import starter_model_path  # noqa: E402
from benchmarks.report import Row, markdown_table, verdict  # noqa: E402
from desktop_app.core.engine import (GenerationParams, LlamaEngine, LoadOptions,  # noqa: E402
                                     ReplyFinished, TextDelta)
from desktop_app.core.engine.process import EngineProcess  # noqa: E402

STORY = [{"role": "user", "content":
          "Write a long, detailed story about a lighthouse keeper and a storm."}]
LONG_PROMPT = [{"role": "user", "content": "The lighthouse keeper watched the sea. " * 190}]
CANCEL_AFTER_S = 0.15
CANCEL_TARGET_MS = 200


def observed_rate(engine, tokens: int) -> float:
    """Tokens per second between the first text and the final event, as the caller sees them."""
    return observed_decode(engine, tokens)[0]


def observed_decode(engine, tokens: int) -> tuple[float, int]:
    """(tokens per second as the caller sees them, tokens generated) of one greedy reply."""
    params = GenerationParams(temperature=0, max_tokens=tokens)
    first = finished = None
    with engine.generate(STORY, params) as handle:
        for event in handle:
            now = time.perf_counter()
            if isinstance(event, TextDelta) and first is None:
                first = now
            elif isinstance(event, ReplyFinished):
                finished, count = now, event.stats.completion_tokens
    return (count - 1) / (finished - first), count


def cancel_latency_ms(engine) -> tuple[float, str, int]:
    """(ms from cancel() to the final event, its reason, tokens produced) mid prompt eval.

    The request's own handle is cancelled: ``engine.cancel()`` reaches only a request
    the engine has begun, and nothing is sent before the handle is first read."""
    handle = engine.generate(LONG_PROMPT, GenerationParams(temperature=0, max_tokens=64))
    cancelled_at: list[float] = []

    def cancel() -> None:
        cancelled_at.append(time.perf_counter())
        handle.cancel()

    timer = threading.Timer(CANCEL_AFTER_S, cancel)
    with handle:
        timer.start()
        last = handle.result()  # the first read sends the request
        ended = time.perf_counter()
    timer.join()
    return (ended - cancelled_at[0]) * 1000, last.reason, last.stats.completion_tokens


def first_text_s(engine) -> float:
    """Seconds from asking to the first text; the rest of the reply is cancelled."""
    started = time.perf_counter()
    with engine.generate(STORY, GenerationParams(temperature=0, max_tokens=8)) as handle:
        for event in handle:
            if isinstance(event, TextDelta):
                return time.perf_counter() - started
    raise RuntimeError("no text came")


def run(model: str, threads: int, rounds: int, tokens: int = 128) -> dict:
    options = LoadOptions(n_ctx=4096, n_threads=threads)
    local, remote = LlamaEngine(), EngineProcess()
    local.load(model, options)
    remote.load(model, options)
    rates: dict[str, list[float]] = {"process": [], "local": []}
    ratios = []
    try:
        for index in range(rounds):
            order = ("process", "local") if index % 2 == 0 else ("local", "process")
            for side in order:
                rates[side].append(observed_rate(remote if side == "process" else local, tokens))
            ratios.append(rates["process"][-1] / rates["local"][-1])
        local.unload()
        cancels = [cancel_latency_ms(remote) for _ in range(rounds)]
        warm = [first_text_s(remote) for _ in range(rounds)]
        recovered = []
        for _ in range(rounds):
            os.kill(remote.pid, signal.SIGKILL)
            remote._child.proc.wait()
            recovered.append(first_text_s(remote))
    finally:
        local.unload()
        remote.unload()
    return {"rates": rates, "ratios": ratios, "cancels": cancels, "warm": warm,
            "recovered": recovered, "tokens": tokens, "threads": threads}


def rows(result: dict) -> list[Row]:
    rates, cancel_ms = result["rates"], [c[0] for c in result["cancels"]]
    speed = statistics.median(result["ratios"])
    worst = max(cancel_ms)
    return [
        Row(f"Decode tok/s seen by the caller, engine process vs in-process engine "
            f"({result['tokens']} tokens)", f"{statistics.median(rates['process']):.1f}",
            f"{statistics.median(rates['local']):.1f}", f"{speed:.2f}", "≥ 0.97",
            verdict(speed >= 0.97)),
        Row(f"Cancel during prompt evaluation, cancel() to the final event (worst of "
            f"{len(cancel_ms)})", f"{worst:.0f} ms", f"median {statistics.median(cancel_ms):.0f} ms",
            target=f"≤ {CANCEL_TARGET_MS} ms", verdict=verdict(worst <= CANCEL_TARGET_MS)),
        Row("First text after the engine process was killed (restart + reload + prompt)",
            f"{statistics.median(result['recovered']):.2f} s",
            f"warm: {statistics.median(result['warm']):.2f} s", target="report"),
    ]


def notes(result: dict) -> list[str]:
    rates, cancels = result["rates"], result["cancels"]
    return [
        f"engine process decode rounds, tok/s: process {_fmt(rates['process'])}; in-process "
        f"{_fmt(rates['local'])}; ratio per round {_fmt(result['ratios'], 2)}",
        "cancels during prompt evaluation (cancelled 150 ms after the request): "
        + ", ".join(f"{ms:.0f} ms ({reason}, {n} tokens)" for ms, reason, n in cancels),
        f"first text after a kill, s: {_fmt(result['recovered'], 2)}; warm, s: "
        f"{_fmt(result['warm'], 2)}",
    ]


def _fmt(values: list[float], digits: int = 1) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    result = run(starter_model_path(args.model), args.threads, args.rounds)
    print(markdown_table(rows(result)))
    print("\n".join(f"- {line}" for line in notes(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
