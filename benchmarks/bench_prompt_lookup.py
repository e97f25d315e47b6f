"""Prompt-lookup decoding vs plain decoding, on answers that copy their input and on ones that do not.

Each task runs through the app's engine (``LlamaEngine``, the preset's own prompt
and sampling with a fixed seed, ``max_tokens`` capped) twice per round: plain,
then with ``prompt_lookup`` (the order flips every round, so a burst of machine
noise hits both alike). The figure per task is the ratio of median decode
tokens per second (prompt time excluded: the lookup does not touch it), with
the share of drafted tokens the model kept and whether both answers were the
same text.

* Copying: "Extract to JSON" over an order confirmation, "Summarize" over a
  section of Python's language reference (``pydoc_data``), and the code preset
  asked to add type hints to a function from the standard library.
* Not copying (the lookup forced on): a short story and a brainstorm, where
  drafts rarely exist or hold, and the policy should fall back to plain decoding.

Answers are the same text with flash attention on one thread (see
``prompt_lookup.py``); without flash attention, or with 2 threads on a deep
context, llama.cpp rounds a token checked in a batch slightly differently, so a
near-tie may go the other way and the two answers part (the column says so).
The attention is the app's ("auto": on for a model on the CPU) unless told.

    python benchmarks/bench_prompt_lookup.py [--threads N] [--rounds 3]
        [--flash-attn auto|on|off]
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from desktop_app.core.engine import LlamaEngine, LoadOptions  # noqa: E402
from desktop_app.core.engine.types import GenerationParams  # noqa: E402
from desktop_app.core.models import find_starter_model  # noqa: E402
from desktop_app.core.preset_store import PresetStore  # noqa: E402
from desktop_app.core.resources import resource_path  # noqa: E402

ORDER = ("Order confirmation 58-2291. Customer: Jane Park, Northwind Traders, 400 Pine Street, "
         "Seattle, WA 98101. Ordered on 3 March 2026: 12 Aeron office chairs at $1,450.00 each; "
         "4 standing desks (model Uplift V2) at $899.00 each; 2 whiteboards at $129.50 each. "
         "Shipping by Contoso Freight from the Portland warehouse, expected 17 March 2026. "
         "Invoice total $21,255.00, due 30 April 2026. Questions: Marco Rossi, Fabrikam Inc., "
         "Milan office, +39 02 555 0142.")


@dataclass(frozen=True)
class Task:
    name: str
    preset: str
    text: str
    copies: bool
    max_tokens: int = 160
    target: float | None = None   # None: the (1.3 copying, 0.97 not); 0: report only


def tasks() -> list[Task]:
    import pydoc_data.topics

    section = pydoc_data.topics.topics["with"][:2200]
    code = inspect.getsource(textwrap.indent)
    return [
        Task("Extract to JSON (order)", "json", ORDER, copies=True),
        Task("Summarize (language reference)", "summarize", section, copies=True),
        Task("Code: add type hints", "code", "Add type hints to this function and return "
             "the whole function:\n\n```python\n" + code + "```", copies=True),
        Task("Quote two sentences verbatim (report)", "general",
             "Quote the first two sentences of this text exactly:\n\n" + ORDER,
             copies=True, target=0.0),
        Task("Story (no copying)", "general",
             "Write a short story about a lighthouse keeper who finds a cat.", copies=False),
        Task("Brainstorm (no copying)", "brainstorm",
             "Ideas for a small team's offsite in spring.", copies=False),
    ]


def run(engine: LlamaEngine, messages, params: GenerationParams):
    with engine.generate(messages, params) as handle:
        return handle.result()


def measure(engine: LlamaEngine, store: PresetStore, task: Task, rounds: int) -> dict:
    preset = store.get(task.preset)
    messages = preset.messages([{"role": "user", "content": preset.user_content(task.text)}])
    base = replace(preset.generation_params(), max_tokens=task.max_tokens, seed=7)
    arms = {"plain": replace(base, prompt_lookup=False),
            "lookup": replace(base, prompt_lookup=True)}
    run(engine, messages, replace(base, max_tokens=1))  # the prompt cached for both arms
    rates: dict[str, list[float]] = {"plain": [], "lookup": []}
    drafted = kept = same = 0
    for round_ in range(rounds):
        names = ["plain", "lookup"] if round_ % 2 == 0 else ["lookup", "plain"]
        texts = {}
        for name in names:
            finished = run(engine, messages, arms[name])
            rates[name].append(finished.stats.decode_tokens_per_s)
            texts[name] = finished.text
            if name == "lookup":
                drafted += finished.stats.draft_tokens
                kept += finished.stats.draft_accepted
                tokens = finished.stats.completion_tokens
        same += texts["plain"] == texts["lookup"]
        print(f"  round {round_ + 1}: plain {rates['plain'][-1]:6.1f}  lookup "
              f"{rates['lookup'][-1]:6.1f} tok/s  ({tokens} tokens, drafted "
              f"{finished.stats.draft_tokens}, kept {finished.stats.draft_accepted})", flush=True)
    plain, lookup = statistics.median(rates["plain"]), statistics.median(rates["lookup"])
    target = task.target if task.target is not None else (1.3 if task.copies else 0.97)
    return {"task": task.name, "copies": task.copies, "target": target,
            "plain": plain, "lookup": lookup,
            "ratio": lookup / plain, "kept": kept / drafted if drafted else None,
            "drafted_per_round": drafted / rounds, "same": f"{same}/{rounds}"}


def table(rows: list[dict]) -> str:
    lines = ["| task | plain tok/s | lookup tok/s | ratio | target | drafted per answer / kept | same answer |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        target = row["target"]
        kept = "-" if row["kept"] is None else f"{row['drafted_per_round']:.0f} / {row['kept']:.0%}"
        verdict = ("report" if not target else
                   f"≥ {target} ({'pass' if row['ratio'] >= target else 'FAIL'})")
        lines.append(f"| {row['task']} | {row['plain']:.1f} | {row['lookup']:.1f} | "
                     f"{row['ratio']:.2f} | {verdict} | {kept} | {row['same']} |")
    return "\n".join(lines)


def suite_rows(rows: list[dict]):
    """``python -m benchmarks``'s rows (report.Row), one per task."""
    from benchmarks import report

    out = []
    for row in rows:
        kept = "" if row["kept"] is None else f", {row['kept']:.0%} of drafts kept"
        metric = (f"Prompt lookup vs plain decoding, tok/s: {row['task']} "
                  f"(same answer {row['same']}{kept})")
        target = row["target"]
        out.append(report.Row(metric, f"{row['lookup']:.1f}", f"{row['plain']:.1f}",
                              report.format_ratio(row["ratio"]),
                              f"≥ {target}" if target else "report",
                              report.at_least(row["ratio"], target) if target
                              else report.INFO))
    return out


def bench(*, threads: int | None, rounds: int, flash_attn: bool | None = None,
          model: str | None = None) -> list[dict]:
    """``flash_attn`` None: the app's "auto" (on for a model on the CPU)."""
    store = PresetStore(builtin_dir=resource_path("presets"), user_dir=Path("/nonexistent"))
    engine = LlamaEngine()
    info = engine.load(model or find_starter_model().path,
                       LoadOptions(n_ctx=4096, n_threads=threads, flash_attn=flash_attn))
    flash = {None: "auto", True: "on", False: "off"}[flash_attn]
    print(f"{info.name}, {info.n_threads} thread(s), flash attention {flash}, "
          f"{rounds} rounds", flush=True)
    try:
        rows = []
        for task in tasks():
            print(task.name, flush=True)
            rows.append(measure(engine, store, task, rounds))
        return rows
    finally:
        engine.unload()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--flash-attn", choices=("auto", "on", "off"), default="auto")
    args = parser.parse_args()
    flash = {"auto": None, "on": True, "off": False}[args.flash_attn]
    rows = bench(threads=args.threads, rounds=args.rounds, flash_attn=flash,
                 model=args.model)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
