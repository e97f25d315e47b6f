"""Orchestration's figures (issue 15), as one section of results.md: "## Orchestration".

- routing time per message, per step (``bench_routing``; the model step on SmolLM2);
- the remote engine against the ``openai`` client on the same llama_cpp.server
  (``bench_remote``: tok/s ratio >= 0.95, time to first token within 30 ms);
- calibration on a held-out half of the labelled set (``bench_calibration``: within ±5
  points of the budget).

The suite (``python -m benchmarks``) appends this section to its results; run alone, it
replaces the section in benchmarks/results.md and leaves the rest of the file as it is:

    python -m benchmarks.bench_orchestration [--model PATH] [--threads 2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import bench_calibration, bench_remote, bench_routing, report  # noqa: E402
from benchmarks.bench_decode import DEFAULT_THREADS, starter_model_path  # noqa: E402

HEADING = "## Orchestration"
RESULTS = Path(__file__).resolve().parent / "results.md"


def measure(model: str, threads: int, rounds: int) -> report.Results:
    results = report.Results()
    started = time.perf_counter()

    def section(metrics: list[tuple[str, str]], run: Callable[[], None]) -> None:
        print(f"... {metrics[0][0]}", file=sys.stderr, flush=True)
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - one broken part must not hide the rest
            results.add(*(report.failed(metric, target, exc) for metric, target in metrics))

    def routing() -> None:
        figures = bench_routing.measure(model_step=True, model=model, threads=threads)
        results.add(*bench_routing.rows(figures))

    def remote() -> None:
        figures = bench_remote.run(Path(model), rounds, 128, threads)
        results.add(*bench_remote.rows(figures))
        results.notes.extend(bench_remote.notes(figures))

    def calibration() -> None:
        figures = bench_calibration.run(model, threads)
        results.add(*bench_calibration.rows(figures))
        results.notes.extend(bench_calibration.notes(figures))

    section([("Routing time per message", "< 5 ms / < 150 ms")], routing)
    section([("Remote engine vs openai client", ">= 0.95, within 30 ms")], remote)
    section([("Calibration on a held-out half", "within ±5 points")], calibration)
    results.context["wall time"] = f"{time.perf_counter() - started:.0f} s"
    results.context["date"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    results.context["model"] = f"{Path(model).name}, {threads} thread(s)"
    return results


def section_text(results: report.Results, *, command: str) -> str:
    lines = [HEADING, "", f"Command: `{command}`  "]
    lines += [f"{key}: {value}  " for key, value in results.context.items()]
    lines += ["", report.markdown_table(results.rows), "",
             f"Summary: {report.summary_line(results.rows)}"]
    if results.notes:
        lines += [""] + [f"- {note}" for note in results.notes]
    return "\n".join(lines) + "\n"


def replace_section(document: str, text: str) -> str:
    """``document`` with its Orchestration section (up to the next "## ") replaced by
    ``text``, or ``text`` appended when it has none."""
    start = document.find(HEADING + "\n")
    if start < 0:
        return document.rstrip("\n") + "\n\n" + text
    end = document.find("\n## ", start + len(HEADING))
    rest = document[end + 1:] if end >= 0 else ""
    return document[:start] + text + ("\n" + rest if rest else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = measure(starter_model_path(args.model), args.threads, args.rounds)
    command = shlex.join([".venv/bin/python", "-m", "benchmarks.bench_orchestration",
                          *(sys.argv[1:] if argv is None else argv)])
    text = section_text(results, command=command)
    existing = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
    report.write(args.output, replace_section(existing, text))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
