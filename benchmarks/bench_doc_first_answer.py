"""Time from "add folder" to the first answer that cites it, through the real command line.

A new person's folder: a 40-page PDF manual (fpdf2, real text layer; too long to give the
model whole, so the answer rests on searched passages) and five Markdown notes. Timed from
the start of ``scalpel docs add FOLDER`` to the end of ``scalpel chat --docs NAME --json
"question"``, each its own process as a person runs them (Python start, imports, the
engine process, the starter SmolLM2 loaded, grounding, the reply), in a fresh SCALPEL_HOME. The answer counts only if its ``sources`` name the
manual's page that holds the fact asked about.

    python benchmarks/bench_doc_first_answer.py [--embed] [--max-tokens 48]

``--embed`` indexes with SmolLM2 as embedding model too (hybrid search), else words only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from document_files import write_pdf  # noqa: E402

PAGES = 40
FACT_PAGE = 7
FACT = ("To reset the Aquatherm boiler after a lockout, hold the red RESET button behind "
        "the lower front panel for five seconds until the flame symbol blinks twice.")
QUESTION = "How do I reset the Aquatherm boiler after a lockout?"


def make_folder(folder: Path) -> None:
    folder.mkdir(parents=True)
    topics = ["safety notes", "parts list", "installing the flue", "filling the system",
              "first start", "the display", "the gas valve", "yearly service", "water pressure",
              "frost protection", "error codes", "warranty"]
    topics = [f"{topic}, part {part}" for part in (1, 2, 3, 4) for topic in topics][:PAGES]
    topics[FACT_PAGE - 1] = None
    pages = []
    for number, topic in enumerate(topics, start=1):
        if number == FACT_PAGE:
            pages.append(f"Page {number}: resetting after a lockout. {FACT} If it locks out "
                         "again within an hour, call a registered engineer.")
        else:
            pages.append(f"Page {number}: {topic}. " + " ".join(
                f"This section of the Aquatherm manual covers {topic}, step {n}: check the "
                f"valves, the gauge and the cable before going on." for n in range(1, 8)))
    write_pdf(folder / "aquatherm-manual.pdf", pages)
    notes = {"shopping.md": "# Shopping\n\nMilk, coffee beans, a new filter for the kettle.",
             "plumber.md": "# Plumber\n\nAnna Berg, Tuesdays and Thursdays, 0171 555 0199.",
             "holiday.md": "# Holiday\n\nTurn the heating to frost mode before leaving.",
             "garden.md": "# Garden\n\nPrune the apple tree in February.",
             "car.md": "# Car\n\nService due at 60,000 km; tyres rotated in spring."}
    for name, text in notes.items():
        (folder / name).write_text(text + "\n", encoding="utf-8")


def scalpel(env: dict, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "desktop_app", *args], env=env,
                            capture_output=True, text=True, timeout=1800, cwd=ROOT)
    took = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"scalpel {' '.join(args[:2])} failed ({result.returncode}): "
                         f"{result.stderr.strip()[-500:]}")
    return took, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embed", action="store_true")
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items()
               if k not in ("HF_ENDPOINT", "SCALPEL_POLICY", "SCALPEL_SYSTEM_CONFIG")}
        env["SCALPEL_HOME"] = str(root / "home")
        make_folder(root / "boiler")
        extra = []
        if args.embed:
            from benchmarks.bench_decode import starter_model_path
            extra = ["--embedding-model", starter_model_path()]
        added, _ = scalpel(env, "docs", "add", str(root / "boiler"), "--collection", "home",
                           *extra)
        asked, result = scalpel(env, "chat", "--docs", "home", "--json", "--no-save",
                                "--temperature", "0", "--max-tokens", str(args.max_tokens),
                                QUESTION)
        stats = json.loads(result.stdout.strip().splitlines()[-1])
        sources = stats.get("sources") or []
        cited = [s for s in sources if s.get("file", "").endswith("aquatherm-manual.pdf")
                 and s.get("page") == FACT_PAGE]
        reply = result.stdout.strip().rsplit("\n", 1)[0]
        marked = [s for s in cited if f"[{s.get('marker')}]" in reply]
        mode = "words and SmolLM2 vectors" if args.embed else "words only (BM25)"
        print(f"add folder ({PAGES}-page PDF + 5 notes, {mode}): {added:.1f} s; "
              f"chat --docs until the reply ended: {asked:.1f} s; "
              f"total {added + asked:.1f} s; grounding {stats.get('grounding')!r}, "
              f"{len(sources)} sources, the fact's page (manual p. {FACT_PAGE}) "
              + (f"among them as [{cited[0].get('marker')}]" if cited else "NOT among them")
              + f", its marker {'in' if marked else 'not in'} the reply")
        print(f"reply: {' '.join(reply.split())[:300]!r}")
        if not cited:
            print("sources:", json.dumps(sources)[:800])
            raise SystemExit(1)


if __name__ == "__main__":
    main()
