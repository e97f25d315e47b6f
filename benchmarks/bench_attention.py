"""llama.cpp's decode time per token by attention setting and KV-cache size, as a chat grows.

Why Scalpel's flash attention is "auto", on for a model on the CPU: with the
llama.cpp of llama-cpp-python 0.3.36 it decodes faster while a chat is short and
about as fast later (older builds were 17-29% slower past 1,000 tokens, which is
why it was off until 2026-11-30). It also shows a bigger KV cache decoding
slower at the same depth (3-6% for 4,096 cells against one sized to fit); taking
turns leaves every context's caches cold, so this understates what a context
decoding on its own loses (about 12% at 44 tokens: ``bench_reference.py``'s
256-cell side), which is why the engine grows its context (``context_cells.py``).
Several llama.cpp contexts on the same GGUF, each filled to the same depth, take
turns decoding one token each (the order flips every step), for ``--steps``
tokens; every 32 tokens each context drops what it decoded, so the depth stays
put. Taking turns token by token means a burst of machine noise hits every
context alike, and the median time per token ignores the bursts. Ratios are
against the context llama-bench would use (flash attention off, sized to fit).

This is llama.cpp through llama-cpp-python's low-level API, not Scalpel's decode
loop: ``bench_reference.py`` compares that loop with llama-bench and a bare loop.

    python benchmarks/bench_attention.py [--depths 44,300,1000,2500] [--steps 400]
        [--contexts off:4096,on:4096,off:fit]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_decode import DEFAULT_THREADS, starter_model_path  # noqa: E402
from benchmarks.bench_reference import FILLER  # noqa: E402

REFILL_EVERY = 32      # tokens decoded before each context goes back to the depth
FIT_MARGIN = 256       # "fit": the depth plus room for the tokens decoded, like llama-bench


@dataclass
class Context:
    label: str
    llama: object
    token: object                      # a one-token llama_token array
    seconds: list[float] = field(default_factory=list)


def parse_contexts(spec: str) -> list[tuple[bool, str]]:
    """``off:4096,on:4096,off:fit`` -> [(flash attention, cells or "fit"), ...]"""
    found = []
    for item in spec.split(","):
        flash, cells = item.split(":")
        found.append((flash == "on", cells))
    return found


def open_context(model: str, threads: int, flash: bool, cells: str, depth: int) -> Context:
    import llama_cpp

    n_ctx = depth + FIT_MARGIN if cells == "fit" else int(cells)
    with contextlib.redirect_stderr(io.StringIO()):
        llama = llama_cpp.Llama(model_path=model, n_ctx=n_ctx, n_threads=threads,
                                n_threads_batch=threads, flash_attn=flash, verbose=True)
    llama.verbose = False
    tokens = llama.tokenize((FILLER * (depth // 20 + 2)).encode(), add_bos=False)[:depth]
    llama.eval(tokens)
    label = f"flash attention {'on' if flash else 'off'}, {n_ctx} cells"
    return Context(label + (" (fit)" if cells == "fit" else ""), llama,
                   (llama_cpp.llama_token * 1)(tokens[-1]))


def take_turns(contexts: list[Context], depth: int, steps: int) -> None:
    import llama_cpp

    for step in range(steps):
        if step % REFILL_EVERY == 0:
            for c in contexts:
                llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(c.llama.ctx),
                                              -1, depth, -1)
        for c in contexts if step % 2 == 0 else reversed(contexts):
            batch = llama_cpp.llama_batch_get_one(c.token, 1)
            started = time.perf_counter()
            if llama_cpp.llama_decode(c.llama.ctx, batch) != 0:
                raise RuntimeError(f"llama_decode failed for {c.label}")
            c.seconds.append(time.perf_counter() - started)


def measure(model: str, threads: int, depth: int, steps: int,
            specs: list[tuple[bool, str]]) -> list[tuple[str, float]]:
    """(label, median seconds per token) for each context at ``depth``."""
    contexts = [open_context(model, threads, flash, cells, depth) for flash, cells in specs]
    try:
        take_turns(contexts, depth, steps)
    finally:
        for c in contexts:
            c.llama.close()
    return [(c.label, statistics.median(c.seconds)) for c in contexts]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF path (default: the starter SmolLM2)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--depths", default="44,300,1000,2500")
    parser.add_argument("--steps", type=int, default=400, help="tokens per context per depth")
    parser.add_argument("--contexts", default="off:4096,on:4096,off:fit",
                        help="flash attention on/off : KV cells or 'fit'; the last is the "
                             "reference of the ratios")
    args = parser.parse_args()
    model = starter_model_path(args.model)
    specs = parse_contexts(args.contexts)
    load_at_start = os.getloadavg()
    print(f"model {Path(model).name}, {args.threads} threads, {args.steps} tokens per "
          f"context per depth, one token each in turn\n")
    print("| context depth | llama.cpp context | median ms per token | tok/s | vs the last |")
    print("|---|---|---|---|---|")
    for depth in (int(d) for d in args.depths.split(",")):
        found = measure(model, args.threads, depth, args.steps, specs)
        reference = found[-1][1]
        for label, seconds in found:
            print(f"| {depth} | {label} | {seconds * 1000:.2f} | {1 / seconds:.1f} | "
                  f"{reference / seconds:.3f} |", flush=True)
    print(f"\nload average {load_at_start} -> {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
