"""Where one decoded token's time goes: llama_decode, sampling, and Scalpel's Python.

Each round, in rotating order, on the same GGUF and thread count:

* ``engine``: one greedy reply of ``--tokens`` tokens through ``LlamaEngine.generate``,
  with ``llama_decode`` and the sampling call timed from the outside (a wrapper around
  each; its own cost, measured, is taken off). The rest of a token's time is Scalpel's
  Python: the decode loop, end-of-generation check, piece lookup, UTF-8 decoding, stop
  strings and the ``TextDelta`` the caller receives.
* ``decode-only``: llama-bench's tg loop written in Python on the engine's own context:
  ``--tokens`` one-token ``llama_decode`` calls, random tokens, nothing sampled. The
  floor any Python driver of this context can reach.
* ``llama-bench fa=on`` / ``fa=off`` (when built): ``-p 0 -n <tokens> -r 3`` with and
  without flash attention, to show what that setting is worth on this machine.

The last two start at the depth the engine's reply starts at (its prompt's length:
random tokens first, ``-d`` for llama-bench): each token attends to every earlier
one, and on this CPU 44 tokens more context cost ~5% of decode speed.

Medians over rounds, and every round, are printed; the machine may be noisy.

    .venv/bin/python -m benchmarks.decode_profile [--threads 2] [--tokens 128] [--rounds 7]
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import llama_bench  # noqa: E402
from benchmarks.bench_decode import (DEFAULT_THREADS, MESSAGES, alternate,  # noqa: E402
                                     open_engine, starter_model_path)
from desktop_app.core.engine import GenerationParams  # noqa: E402


class Clock:
    """When each wrapped call started and ended (perf_counter_ns)."""

    def __init__(self) -> None:
        self.spans: list[tuple[int, int]] = []

    def wrap(self, function: Callable, only: Callable[..., bool] = lambda *a: True) -> Callable:
        now, spans = time.perf_counter_ns, self.spans

        def timed(*args):
            if not only(*args):
                return function(*args)
            started = now()
            result = function(*args)
            spans.append((started, now()))
            return result
        return timed


def wrapper_cost_ns(samples: int = 20000) -> float:
    """What one timed wrapper adds to a call (taken off the Python share)."""
    plain, timed = (lambda *a: 0), Clock().wrap(lambda *a: 0)
    cost = []
    for function in (plain, timed):
        started = time.perf_counter_ns()
        for _ in range(samples):
            function(1, 2)
        cost.append((time.perf_counter_ns() - started) / samples)
    return max(0.0, cost[1] - cost[0])


def engine_breakdown(engine, tokens: int) -> dict[str, float]:
    """One greedy reply, µs per token: total, in llama_decode, in sampling, the rest."""
    import llama_cpp

    from desktop_app.core.engine import llama_engine

    decode_clock, sample_clock = Clock(), Clock()
    one_token = lambda ctx, batch: batch.n_tokens == 1  # noqa: E731 - not prompt batches
    original_decode = llama_cpp.llama_decode
    original_chain_sample = llama_cpp.llama_sampler_sample
    original_sampler = llama_engine.Sampler

    class TimedSampler(original_sampler):
        """The reply's sampler, with whatever it samples through timed."""
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            if hasattr(self, "sample"):
                self.sample = sample_clock.wrap(self.sample)
            else:  # a decoder that calls llama_sampler_sample itself
                llama_cpp.llama_sampler_sample = sample_clock.wrap(original_chain_sample)

    llama_cpp.llama_decode = decode_clock.wrap(original_decode, one_token)
    llama_engine.Sampler = TimedSampler
    try:
        params = GenerationParams(temperature=0.0, max_tokens=tokens)
        with engine.generate(MESSAGES, params) as handle:
            finished = handle.result()
    finally:
        llama_cpp.llama_decode = original_decode
        llama_cpp.llama_sampler_sample = original_chain_sample
        llama_engine.Sampler = original_sampler
    return per_token(finished.stats, sample_clock.spans, decode_clock.spans)


def per_token(stats, samples: list[tuple[int, int]],
              decodes: list[tuple[int, int]]) -> dict[str, float]:
    """µs per token, as medians over the reply's tokens (a preempted token does not skew
    them): in sampling, in llama_decode, and between them (Scalpel's Python). Token i is
    sampled, handed to the caller, then decoded; its Python time is the gap from sampling
    to decoding plus the gap from decoding to sampling the next one."""
    decodes = [span for span in decodes if span[0] > samples[0][1]]  # not the prompt's
    n = min(len(decodes), len(samples) - 1)
    us = 1e-3
    sample = [(samples[i][1] - samples[i][0]) * us for i in range(n)]
    decode = [(decodes[i][1] - decodes[i][0]) * us for i in range(n)]
    python = [((decodes[i][0] - samples[i][1]) + (samples[i + 1][0] - decodes[i][1])) * us
              for i in range(n)]
    whole = [(samples[i + 1][0] - samples[i][0]) * us for i in range(n)]
    return {"tok/s": stats.decode_tokens_per_s, "total": statistics.median(whole),
            "decode": statistics.median(decode), "sample": statistics.median(sample),
            "python": statistics.median(python), "python mean": statistics.fmean(python),
            "tokens": stats.completion_tokens}


def decode_only_rate(engine, tokens: int, depth: int) -> float:
    """llama-bench's tg loop on the engine's context: tok/s of bare one-token decodes,
    after ``depth`` tokens (not timed), as ``llama-bench -d``."""
    import llama_cpp

    decoder = engine._model.decoder  # noqa: SLF001 - a diagnostic of the engine's own context
    decoder._truncate(0)             # noqa: SLF001 - an empty KV cache, then the depth
    n_vocab = llama_cpp.llama_vocab_n_tokens(decoder.vocab)
    decode, synchronize, ctx = llama_cpp.llama_decode, llama_cpp.llama_synchronize, decoder.ctx
    pick = random.Random(0).randrange
    if depth:
        prefix = (llama_cpp.llama_token * depth)(*(pick(n_vocab) for _ in range(depth)))
        if decode(ctx, llama_cpp.llama_batch_get_one(prefix, depth)) != 0:
            raise RuntimeError("llama_decode failed")
    one = (llama_cpp.llama_token * 1)(1)
    batch = llama_cpp.llama_batch_get_one(one, 1)
    started = time.perf_counter()
    for _ in range(tokens):
        if decode(ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")
        synchronize(ctx)
        one[0] = pick(n_vocab)
    seconds = time.perf_counter() - started
    memory = llama_cpp.llama_get_memory(ctx)
    llama_cpp.llama_memory_seq_rm(memory, -1, 0, -1)  # the engine's record says: empty
    return tokens / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF path (default: the starter SmolLM2)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-llama-bench", action="store_true")
    args = parser.parse_args()
    model = starter_model_path(args.model)
    binary = None if args.no_llama_bench else llama_bench.binary_path()
    engine = open_engine(model, args.threads)
    depth = engine.count_prompt_tokens(MESSAGES)
    overhead_ns = wrapper_cost_ns()
    breakdowns: list[dict[str, float]] = []

    def run_engine() -> float:
        breakdowns.append(engine_breakdown(engine, args.tokens))
        return breakdowns[-1]["tok/s"]

    runs: dict[str, Callable[[], float]] = {
        "engine": run_engine,
        "decode-only": lambda: decode_only_rate(engine, args.tokens, depth)}
    if binary is not None:
        for flash, name in (("on", "llama-bench fa=on"), ("off", "llama-bench fa=off")):
            runs[name] = functools.partial(llama_bench.tg_tps, binary, model, args.threads,
                                           gen=args.tokens, depth=depth, flash_attn=flash)
    engine_breakdown(engine, 8)  # warm-up
    load_before = os.getloadavg()
    try:
        rates = alternate(runs, args.rounds)
    finally:
        engine.unload()
    print(f"model {Path(model).name}, {args.threads} threads, {args.tokens} tokens after a "
          f"{depth}-token prompt, {args.rounds} rounds; load average {load_before} -> {os.getloadavg()}")
    for name, values in rates.items():
        print(f"{name:>20}: median {statistics.median(values):6.1f} tok/s   rounds "
              + ", ".join(f"{v:.1f}" for v in values))
    wrapper_us = overhead_ns / 1e3
    print(f"\nengine, µs per token (per reply: medians over its tokens; then the median of "
          f"the replies; the timing wrappers' own {wrapper_us:.2f} µs each is taken off "
          "the Python share):")
    for key in ("total", "decode", "sample", "python", "python mean"):
        values = [b[key] - (2 * wrapper_us if key.startswith("python") else 0)
                  for b in breakdowns]
        share = statistics.median(v / b["total"] for v, b in zip(values, breakdowns))
        print(f"  {key:>11}: {statistics.median(values):8.1f} µs  ({share:6.1%})   replies "
              + ", ".join(f"{v:.0f}" for v in values))
    print("  per round engine / decode-only: "
          + ", ".join(f"{a / b:.3f}" for a, b in zip(rates["engine"], rates["decode-only"])))
    if binary is not None:
        for name in ("llama-bench fa=on", "llama-bench fa=off"):
            print(f"  per round engine / {name}: "
                  + ", ".join(f"{a / b:.3f}" for a, b in zip(rates["engine"], rates[name])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
