"""Where llama-cpp-python's decode speed parts from llama-bench's (issue 18).

An earlier measurement found every path through llama-cpp-python about 15 % slower
than ``llama-bench`` built from the same sources at 1 thread. This separates the
candidates, each side a fresh process, all sides once per round in rotating order:

* ``bench fa=off`` / ``bench fa=on``: ``llama-bench -p 0 -n GEN -d DEPTH -fa 0|1``.
* ``bare fa=off`` / ``bare fa=on``: llama-bench's tg loop (``test_gen``: one-token
  ``llama_decode`` + ``llama_synchronize``, random tokens, a one-token warm-up, context
  ``n_ctx = depth + gen``, ``n_batch`` 2048, ``n_ubatch`` 512, f16 KV cache) written in
  Python over ctypes, on the libllama of this venv's llama-cpp-python. bare / bench is
  the library and build; nothing of Scalpel runs.
* ``bare-dl fa=off`` (``--dl-lib``): the same loop on the packaged build
  (``GGML_BACKEND_DL`` + ``GGML_CPU_ALL_VARIANTS``, packaging/linux/build.sh), an
  unpacked wheel's folder holding ``llama_cpp/``; the CPU variant ggml chose is printed.
* ``bare app-ctx``: that loop on the context the engine opens (fa off, 512 cells,
  n_batch 512, n_ubatch 256): bare app-ctx / bare fa=off is the context settings.
* ``engine``: Scalpel's engine, one greedy reply of GEN tokens after the benchmark
  prompt (whose length is DEPTH), as the app decodes. engine / bare fa=off is the
  Python loop and the engine's own context settings.

``--compare-code`` first disassembles this venv's libllama / libggml-cpu / libggml-base
and llama-bench's, addresses stripped, and counts the instructions that differ: 0 means
the same compiler flags produced the same machine code.

    .venv/bin/python -m benchmarks.bench_build_gap --threads 1 2 --rounds 9 --compare-code \\
        [--dl-lib /tmp/unpacked-dl-wheel] [--sides "bare fa=off" "bare-dl fa=off"]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import llama_bench  # noqa: E402

LIBRARIES = ("libllama.so", "libggml-cpu.so", "libggml-base.so")


# -- workers: one measurement in a fresh process -----------------------------------
def bare_worker(model: str, threads: int, depth: int, gen: int, reps: int, flash: bool,
                app_context: bool = False, sizes: tuple[int, int, int] | None = None) -> dict:
    """llama-bench's test_gen in Python: mean tok/s over ``reps`` runs, as its avg_ts.
    ``app_context``: the context the engine opens instead of llama-bench's (512 cells,
    n_batch 512, n_ubatch 256: LoadOptions and context_cells.FIRST_CELLS); ``sizes``:
    (n_ctx, n_batch, n_ubatch) given, to tell which of the three matters."""
    import llama_cpp

    from desktop_app.core.engine import llama_api

    # loads the CPU variant in a GGML_BACKEND_DL build; not for a libllama given in
    # LLAMA_CPP_LIB_PATH (the registry would open this venv's libggml beside it)
    registry = None if os.environ.get("LLAMA_CPP_LIB_PATH") else llama_api.ggml_registry()
    mparams = llama_cpp.llama_model_default_params()
    mparams.n_gpu_layers = 0
    model_p = llama_cpp.llama_model_load_from_file(model.encode(), mparams)
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx, cparams.n_batch, cparams.n_ubatch = sizes or (
        (512, 512, 256) if app_context else (depth + gen, 2048, 512))
    cparams.n_threads = cparams.n_threads_batch = threads
    cparams.flash_attn_type = (llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash
                               else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
    ctx = llama_cpp.llama_init_from_model(model_p, cparams)
    vocab = llama_cpp.llama_model_get_vocab(model_p)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    decode, synchronize = llama_cpp.llama_decode, llama_cpp.llama_synchronize
    memory = llama_cpp.llama_get_memory(ctx)
    pick = random.Random(0).randrange
    one = (llama_cpp.llama_token * 1)(pick(n_vocab))
    batch = llama_cpp.llama_batch_get_one(one, 1)

    def fill_depth() -> None:
        llama_cpp.llama_memory_clear(memory, False)
        if depth:
            prefix = (llama_cpp.llama_token * depth)(*(pick(n_vocab) for _ in range(depth)))
            if decode(ctx, llama_cpp.llama_batch_get_one(prefix, depth)) != 0:
                raise RuntimeError("llama_decode failed (depth)")
            synchronize(ctx)

    fill_depth()                      # warm-up, as llama-bench's: one token
    decode(ctx, batch)
    synchronize(ctx)
    rates = []
    for _ in range(reps):
        fill_depth()
        started = time.perf_counter_ns()
        for _ in range(gen):
            if decode(ctx, batch) != 0:
                raise RuntimeError("llama_decode failed")
            synchronize(ctx)
            one[0] = pick(n_vocab)
        rates.append(gen / ((time.perf_counter_ns() - started) / 1e9))
    n_ctx = llama_cpp.llama_n_ctx(ctx)
    llama_cpp.llama_free(ctx)
    llama_cpp.llama_model_free(model_p)
    maps = Path("/proc/self/maps")
    variant = sorted({Path(line.split()[-1]).name for line in maps.read_text().splitlines()
                      if "libggml-cpu" in line}) if maps.exists() else []
    return {"tps": statistics.fmean(rates), "reps": rates,
            "dynamic": bool(registry and registry.dynamic),
            "cpu_variant": ",".join(variant), "n_ctx": n_ctx}


def engine_worker(model: str, threads: int, gen: int, reps: int) -> dict:
    """Scalpel's engine: mean decode tok/s of ``reps`` greedy replies (after a warm-up)."""
    from benchmarks.bench_decode import MESSAGES, open_engine
    from desktop_app.core.engine import GenerationParams

    engine = open_engine(model, threads)
    try:
        depth = engine.count_prompt_tokens(MESSAGES)
        with engine.generate(MESSAGES, GenerationParams(temperature=0.0, max_tokens=8)) as h:
            h.result()
        rates, tokens = [], []
        for _ in range(reps):
            with engine.generate(MESSAGES, GenerationParams(temperature=0.0,
                                                            max_tokens=gen)) as handle:
                stats = handle.result().stats
            rates.append(stats.decode_tokens_per_s)
            tokens.append(stats.completion_tokens)
    finally:
        engine.unload()
    return {"tps": statistics.fmean(rates), "reps": rates, "tokens": tokens, "depth": depth}


def run_worker(args: list[str], python_path: str | None = None,
               lib_path: str | None = None) -> dict:
    env = dict(os.environ)
    if lib_path:  # another libllama (and the libggml beside it) for llama_cpp
        env["LLAMA_CPP_LIB_PATH"] = lib_path
    if python_path:  # an unpacked wheel's llama_cpp ahead of the venv's
        env["PYTHONPATH"] = os.pathsep.join([python_path, str(ROOT)])
    done = subprocess.run([sys.executable, "-m", "benchmarks.bench_build_gap", "--worker",
                           *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"worker {args} failed: {done.stderr[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the machine code of the two builds ------------------------------------------
def normalized_code(library: Path) -> list[str]:
    """The instructions of ``library`` without addresses, offsets or symbol names."""
    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(library)],
                             capture_output=True, text=True, check=True).stdout
    strip = re.compile(r"0x[0-9a-f]+|[0-9a-f]{4,}|<[^>]*>")
    return [strip.sub("", line.split("\t", 1)[1]) for line in listing.splitlines()
            if "\t" in line]


def compare_code(venv_lib: Path, bench_lib: Path) -> list[str]:
    lines = []
    for name in LIBRARIES:
        ours, theirs = normalized_code(venv_lib / name), normalized_code(bench_lib / name)
        differing = sum(a != b for a, b in zip(ours, theirs)) + abs(len(ours) - len(theirs))
        lines.append(f"  {name}: {len(ours)} vs {len(theirs)} instructions, "
                     f"{differing} differ (addresses stripped)")
    return lines


# -- the run ---------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF path (default: the starter SmolLM2)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--gen", type=int, default=128)
    parser.add_argument("--reps", type=int, default=1,
                        help="repetitions inside each side (short sides: more rounds fit "
                             "between the changes of a shared machine's load)")
    parser.add_argument("--sides", nargs="+", help="only these sides (names as printed)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dl-lib", help="folder holding the packaged build's llama_cpp/")
    parser.add_argument("--compare-code", action="store_true")
    parser.add_argument("--noomp-dir", help="a llama.cpp build's bin/ folder configured with "
                        "-DGGML_OPENMP=OFF (ggml's own thread pool): its llama-bench and "
                        "libllama become two more sides")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from benchmarks.bench_decode import starter_model_path
    model = starter_model_path(args.model)

    if args.worker:  # kind threads depth flash
        kind, threads, depth, flash = args.worker
        result = (engine_worker(model, int(threads), args.gen, args.reps) if kind == "engine"
                  else bare_worker(model, int(threads), int(depth), args.gen, args.reps,
                                   flash == "on", app_context=flash == "app",
                                   sizes=tuple(map(int, flash.split(":")[1:]))
                                   if flash.startswith("sizes:") else None))
        print(json.dumps(result))
        return 0

    binary = llama_bench.binary_path()
    if binary is None:
        print("llama-bench is not built: python benchmarks/llama_bench.py --build",
              file=sys.stderr)
        return 1
    if args.compare_code:
        import llama_cpp
        venv_lib = Path(llama_cpp.__file__).resolve().parent / "lib"
        print(f"machine code, {venv_lib} vs {binary.parent}:")
        print("\n".join(compare_code(venv_lib, binary.parent)))
    depth = run_worker(["engine", "1", "0", "off"])["depth"]  # the engine's prompt length
    for threads in args.threads:
        sides = {
            "bench fa=off": lambda t=threads: llama_bench.tg_tps(
                binary, model, t, gen=args.gen, depth=depth, flash_attn="off",
                repetitions=args.reps),
            "bench fa=on": lambda t=threads: llama_bench.tg_tps(
                binary, model, t, gen=args.gen, depth=depth, flash_attn="on",
                repetitions=args.reps),
            "bare fa=off": lambda t=threads: run_worker(["bare", str(t), str(depth), "off"]),
            "bare fa=on": lambda t=threads: run_worker(["bare", str(t), str(depth), "on"]),
            "bare app-ctx": lambda t=threads: run_worker(["bare", str(t), str(depth), "app"]),
            "engine": lambda t=threads: run_worker(["engine", str(t), "0", "off"]),
        }
        if args.dl_lib:
            sides["bare-dl fa=off"] = lambda t=threads: run_worker(
                ["bare", str(t), str(depth), "off"], python_path=args.dl_lib)
        if args.noomp_dir:
            other = Path(args.noomp_dir)
            sides["bench-noomp fa=off"] = lambda t=threads: llama_bench.tg_tps(
                other / "llama-bench", model, t, gen=args.gen, depth=depth,
                flash_attn="off", repetitions=args.reps)
            sides["bare-noomp fa=off"] = lambda t=threads: run_worker(
                ["bare", str(t), str(depth), "off"], lib_path=str(other))
        if args.sides:
            sides = {name: run for name, run in sides.items() if name in args.sides}
        report(threads, depth, args, sides)
    return 0


def report(threads: int, depth: int, args, sides: dict) -> None:
    names = list(sides)
    rates: dict[str, list[float]] = {name: [] for name in names}
    notes: dict[str, dict] = {}
    loads = []
    for round_no in range(args.rounds):
        loads.append(os.getloadavg()[0])
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            result = sides[name]()
            if isinstance(result, dict):
                notes[name] = result
                result = result["tps"]
            rates[name].append(result)
    loads.append(os.getloadavg()[0])
    print(f"\n{threads} thread(s), tg{args.gen} @ d{depth}, {args.rounds} rounds x "
          f"{args.reps} reps; 1-min load average at each round's start and the end: "
          + ", ".join(f"{x:.2f}" for x in loads))
    for name in names:
        extra = notes.get(name, {})
        info = (f"  [variant {extra['cpu_variant'] or '-'}, DL {extra['dynamic']}]"
                if "cpu_variant" in extra else
                f"  [tokens {extra['tokens']}]" if "tokens" in extra else "")
        print(f"  {name:>15}: median {statistics.median(rates[name]):6.1f} tok/s   rounds "
              + ", ".join(f"{v:.1f}" for v in rates[name]) + info)
    pairs = [("bare fa=off", "bench fa=off"), ("bare fa=on", "bench fa=on"),
             ("bare app-ctx", "bare fa=off"), ("engine", "bare app-ctx"),
             ("engine", "bare fa=off"), ("engine", "bench fa=off"), ("engine", "bench fa=on"),
             ("bench fa=off", "bench fa=on"), ("bare-dl fa=off", "bare fa=off"),
             ("bare-dl fa=off", "bench fa=off"), ("bare-noomp fa=off", "bench-noomp fa=off"),
             ("bench-noomp fa=off", "bench fa=off"), ("bare-noomp fa=off", "bare fa=off")]
    for a, b in pairs:
        if a in rates and b in rates:
            ratios = [x / y for x, y in zip(rates[a], rates[b])]
            print(f"  {a} / {b}: median of per-round ratios {statistics.median(ratios):.3f}"
                  "   rounds " + ", ".join(f"{r:.3f}" for r in ratios))


if __name__ == "__main__":
    sys.exit(main())
