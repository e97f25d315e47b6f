"""Scalpel's benchmark suite: every figure against its reference, in one table.

    .venv/bin/python -m benchmarks [--threads 2] [--rounds 5] [--build-llama-bench]

Prints a Markdown table (metric, Scalpel, reference, ratio, target, result)
and writes it, with the context and every round's figures, to
``benchmarks/results.md``. Comparisons run side by side in alternating rounds
and report medians, since the machine is noisy. A target missed is reported,
not raised: the exit code is 0 unless the suite itself broke.

Sections, in order (the in-process engine is unloaded before the others run):
1-2. decode tok/s (in this process and through the engine process) vs a bare
     llama-cpp-python loop and llama-bench tg128 with the same settings; time
     to first token on a 256-token prompt vs llama-bench's pp256 time
     (``bench_reference``, ``llama_bench``);
3.   TTFT at turn 10 vs turn 1 (``bench_chat_turns``); decode with the answer's
     confidence signals vs without (``bench_confidence``);
3b.  the engine process: decode vs in-process, cancel latency during prompt
     evaluation, first text after a kill (``bench_engine_process``);
4.   longest GUI stall while streaming (``bench_gui_stream``, own process);
4b.  the local API: decode and first token vs the in-app engine and llama_cpp.server,
     requests/s at 1, 4 and 16 clients (``bench_api``); longest GUI stall while the
     window's API streams to another process (``bench_api_gui``, own process);
5,7. idle CPU after a reply, RSS beyond the mmapped model (``bench_footprint``);
6.   start to a shown window (``bench_cold_start``).
8.   threads (issue 18): the app's default decode vs llama-bench at its best thread count,
     the app at 1 vs 2 threads (``bench_threads``, whole-app runs); decoding beside a
     program busy on one core, threads that follow it vs fixed (``bench_busy``); the longest GUI stall
     while the real model streams at 2 and 1 threads (``bench_gui_stall``, own process).
9.   prompt-lookup decoding vs plain on Extract, Summarize, a code edit and two tasks that
     do not copy (``bench_prompt_lookup``); greedy JSON under its grammar, the top token
     checked first vs the grammar over every token (``bench_grammar``).
Then orchestration (issue 15), in its own "## Orchestration" section: routing time per
step, the remote engine vs the openai client, calibration on a held-out half
(``bench_orchestration``; alone: ``python -m benchmarks.bench_orchestration``).
"""

from __future__ import annotations

import argparse
import gc
import shlex
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import (bench_api, bench_api_gui, bench_chat_turns,  # noqa: E402
                        bench_cold_start, bench_confidence, bench_engine_process, bench_footprint,
                        bench_gui_stream, bench_reference, llama_bench, report)
from benchmarks import bench_orchestration  # noqa: E402
from benchmarks import (bench_busy, bench_grammar, bench_gui_stall,  # noqa: E402
                        bench_prompt_lookup, bench_threads)
from benchmarks.bench_decode import (DEFAULT_THREADS, open_bare, open_engine,  # noqa: E402
                                     starter_model_path)

RESULTS = Path(__file__).resolve().parent / "results.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF path (default: the starter SmolLM2)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help="threads for Scalpel, the bare loop and llama-bench (default 2)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="alternating rounds of the llama-bench comparison")
    parser.add_argument("--build-llama-bench", action="store_true",
                        help="build llama-bench first if it is missing (~10-15 min, once)")
    parser.add_argument("--gui-tokens", type=int, default=5000,
                        help="length of the answer streamed into the window")
    parser.add_argument("--start-rounds", type=int, default=5, help="app launches to time")
    parser.add_argument("--api-rounds", type=int, default=3,
                        help="alternating rounds of the local API's decode comparison")
    parser.add_argument("--api-requests", type=int, default=8,
                        help="short completions per concurrency level for the API's requests/s")
    parser.add_argument("--api-gui-tokens", type=int, default=400,
                        help="length of the answer the window's API streams")
    parser.add_argument("--thread-rounds", type=int, default=3,
                        help="interleaved rounds of the thread comparison (issue 18)")
    parser.add_argument("--stall-tokens", type=int, default=200,
                        help="length of the real answer streamed for the GUI stall rows")
    parser.add_argument("--lookup-rounds", type=int, default=3,
                        help="alternating rounds of prompt lookup vs plain decoding (issue 18)")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="Markdown file for the results (default benchmarks/results.md)")
    return parser.parse_args(argv)


def llama_bench_binary(build: bool, results: report.Results) -> Path | None:
    """The built llama-bench; built now (before any measuring) when asked and missing."""
    binary = llama_bench.binary_path()
    if binary is None and build:
        try:
            binary = llama_bench.build()
        except Exception as exc:  # noqa: BLE001 - a failed build skips the comparison
            results.note(f"llama-bench could not be built: {exc}")
    if binary is None:
        results.note(f"llama-bench comparisons skipped: no binary at {llama_bench.BINARY} "
                     "(add --build-llama-bench)")
    return binary


def run_section(results: report.Results, metrics: list[tuple[str, str]],
                section: Callable[[], None]) -> None:
    """Run one section; if it breaks, each of its ``(metric, target)`` rows says why."""
    print(f"... {metrics[0][0]}", file=sys.stderr, flush=True)
    try:
        section()
    except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the rest
        results.add(*(report.failed(metric, target, exc) for metric, target in metrics))


def reference_section(results: report.Results, args, engine, model: str,
                      binary: Path | None) -> None:
    """Rows 1-2: decode and first token against a bare loop and llama-bench."""
    bare = open_bare(model, args.threads)
    process = bench_reference.open_engine_process(model, args.threads)
    fitted = open_engine(model, args.threads, bench_reference.FITTED_CTX)
    try:
        comparison = bench_reference.compare(engine, bare, model, args.threads, args.rounds,
                                             binary, process, fitted)
    finally:
        fitted.unload()
        process.unload()
        bare.close()
    results.add(*bench_reference.decode_rows(comparison), bench_reference.ttft_row(comparison))
    results.notes.extend(bench_reference.notes(comparison))


def turns_section(results: report.Results, engine) -> None:
    results.add(bench_chat_turns.turns_row(bench_chat_turns.replays(engine)))


def engine_sections(results: report.Results, args, model: str, binary: Path | None) -> None:
    """Rows 1-3 share one engine in this process; it is unloaded before anything else runs."""
    engine = open_engine(model, args.threads)
    try:
        run_section(results, [("Decode tok/s (vs llama-bench)", "≥ 0.95"),
                              ("TTFT, 256-token prompt (vs llama-bench pp256)", "report")],
                    lambda: reference_section(results, args, engine, model, binary))
        run_section(results, [("TTFT at turn 10 vs turn 1", "≤ 1.3")],
                    lambda: turns_section(results, engine))
        run_section(results, [("Decode tok/s with confidence signals (vs without)", "≥ 0.97")],
                    lambda: results.add(*bench_confidence.rows(
                        bench_confidence.measure(engine, rounds=args.rounds))))
    finally:
        engine.unload()
        gc.collect()


def engine_process_section(results: report.Results, args, model: str) -> None:
    """The engine process against the in-process engine; cancel latency; crash recovery."""
    figures = bench_engine_process.run(model, args.threads, args.rounds)
    results.add(*bench_engine_process.rows(figures))
    results.notes.extend(bench_engine_process.notes(figures))


def gui_section(results: report.Results, args) -> None:
    figures = bench_gui_stream.measure(tokens=args.gui_tokens)
    results.add(*bench_gui_stream.stall_rows(figures))


def api_section(results: report.Results, args, model: str) -> None:
    figures = bench_api.run(model, args.threads, args.api_rounds, requests=args.api_requests)
    results.add(*bench_api.rows(figures))
    results.notes.extend(bench_api.notes(figures))


def api_gui_section(results: report.Results, args) -> None:
    figures = bench_api_gui.measure(tokens=args.api_gui_tokens)
    results.add(bench_api_gui.stall_row(figures))
    results.note(f"API GUI stall: {figures['tokens']} tokens ({figures['finish_reason']}) in "
                 f"{figures['stream_s']:.1f} s, {figures['busy_ticks']} heartbeat gaps; the "
                 f"same window idle with the API on for {bench_api_gui.IDLE_S:.0f} s")


def footprint_section(results: report.Results) -> None:
    figures = bench_footprint.measure()
    results.add(bench_footprint.idle_row(figures), bench_footprint.rss_row(figures))
    results.note(f"footprint: reply of {figures['reply_tokens']} tokens; busiest threads in the "
                 f"idle window (ms of CPU): {figures['busiest_threads']}; CPU in the first "
                 f"second after the reply: {figures['settle_cpu_pct']:.1f} %")


def start_section(results: report.Results, args) -> None:
    times = bench_cold_start.cold_starts(args.start_rounds)
    results.add(bench_cold_start.start_row(times))
    results.note("start rounds, s: " + ", ".join(f"{t:.2f}" for t in times)
                 + " (the window-shown moment from desktop_app.app.on_window_shown; "
                   "page cache warm)")


def threads_section(results: report.Results, args, binary: Path | None) -> None:
    """Issue 18's rows: default threads vs llama-bench's best, 1 vs 2 threads."""
    figures = bench_threads.measure(args.thread_rounds, 128, binary)
    results.add(*bench_threads.rows(figures, binary))
    results.note(f"threads: the default's choice per round: {figures['default_choice']}; "
                 f"medians {figures['median_tok_s']}")
    busy = bench_busy.measure(args.thread_rounds, 160)
    results.add(*bench_busy.rows(busy))


def stall_section(results: report.Results, args) -> None:
    """The window's longest stall while SmolLM2 really streams, at 2 threads and at 1."""
    for threads in (2, 1):
        figures = bench_gui_stall.measure(threads, args.stall_tokens)
        results.add(bench_gui_stall.stall_row(figures))


def lookup_section(results: report.Results, args, model: str) -> None:
    """Prompt-lookup decoding vs plain, on copying and non-copying tasks (issue 18)."""
    rows = bench_prompt_lookup.bench(threads=args.threads, rounds=args.lookup_rounds,
                                     model=model)
    results.add(*bench_prompt_lookup.suite_rows(rows))
    results.add(bench_grammar.row(bench_grammar.measure(threads=args.threads,
                                                        rounds=args.lookup_rounds, model=model)))


def describe(results: report.Results, args, model: str, binary: Path | None) -> None:
    import llama_cpp

    from desktop_app.core.engine import LlamaEngine

    results.context.update(report.machine_context())
    results.context["model"] = f"{Path(model).name}, {args.threads} thread(s)"
    results.context["engine"] = f"{LlamaEngine.__module__}.{LlamaEngine.__qualname__}"
    system_info = llama_cpp.llama_print_system_info().decode().strip()
    results.context["llama-cpp-python"] = f"{llama_cpp.__version__}; {system_info}"
    results.context["llama-bench"] = str(binary) if binary else "not built"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    others = report.OtherLoad()
    results = report.Results()
    model = starter_model_path(args.model)
    binary = llama_bench_binary(args.build_llama_bench, results)
    describe(results, args, model, binary)
    run_section(results, [("Scalpel's engine (load)", "-")],
                lambda: engine_sections(results, args, model, binary))
    run_section(results, [("Engine process: decode vs in-process", "≥ 0.97"),
                          ("Cancel during prompt evaluation", "≤ 200 ms")],
                lambda: engine_process_section(results, args, model))
    run_section(results, [("Longest GUI stall while streaming", "< 50 ms")],
                lambda: gui_section(results, args))
    run_section(results, [("API decode tok/s vs in-app engine", "≥ 0.95"),
                          ("API requests/s at 1, 4, 16 clients", "report")],
                lambda: api_section(results, args, model))
    run_section(results, [("Longest GUI stall while the Local API streams", "< 50 ms")],
                lambda: api_gui_section(results, args))
    run_section(results, [("Idle CPU after a reply", "< 2 %"),
                          ("RSS beyond the mmapped model", "< 250 MB")],
                lambda: footprint_section(results))
    run_section(results, [("Start to a shown window", "< 1.5 s")],
                lambda: start_section(results, args))
    run_section(results, [("Decode tok/s, app default threads vs llama-bench's best", "≥ 0.95"),
                          ("Decode tok/s, app --threads 1 vs 2", "report")],
                lambda: threads_section(results, args, binary))
    run_section(results, [("Longest GUI stall while SmolLM2 streams at 2 and 1 threads",
                           "< 50 ms")],
                lambda: stall_section(results, args))
    run_section(results, [("Prompt lookup vs plain decoding", "≥ 1.3 copying, ≥ 0.97 not")],
                lambda: lookup_section(results, args, model))
    orchestration: list[report.Results] = []   # its own section, "## Orchestration"
    run_section(results, [("Orchestration: routing, remote engine, calibration", "-")],
                lambda: orchestration.append(
                    bench_orchestration.measure(model, args.threads, args.rounds)))
    results.context["load average at end"] = report.load_average()
    results.context["CPU used by other processes meanwhile"] = others.share()
    command = shlex.join([".venv/bin/python", "-m", "benchmarks",
                          *(sys.argv[1:] if argv is None else argv)])
    text = report.document(results, command=command, seconds=time.perf_counter() - started)
    if orchestration:
        text += "\n" + bench_orchestration.section_text(orchestration[0], command=command)
    report.write(args.output, text)
    print(text)
    print(f"(written to {args.output})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
