"""The suite's results: one row per metric, as a Markdown table and a results file.

A row holds Scalpel's figure, the reference it is compared with, their ratio,
the target and the verdict. Figures are already formatted strings so that each
benchmark decides its own units; verdicts are computed here from numbers.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

PASS, FAIL, INFO, SKIPPED, ERROR = "pass", "FAIL", "info", "skipped", "error"


@dataclass(frozen=True)
class Row:
    metric: str
    scalpel: str
    reference: str = "-"
    ratio: str = "-"
    target: str = "-"
    verdict: str = INFO


@dataclass
class Results:
    """Everything the suite found, plus what is needed to read it."""
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    context: dict[str, str] = field(default_factory=dict)

    def add(self, *rows: Row) -> None:
        self.rows.extend(rows)

    def note(self, text: str) -> None:
        self.notes.append(text)


def verdict(ok: bool) -> str:
    return PASS if ok else FAIL


def ratio(value: float, reference: float) -> float | None:
    return value / reference if reference else None


def format_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def at_least(value: float | None, minimum: float) -> str:
    """Verdict for a ratio or figure that must reach ``minimum``."""
    return ERROR if value is None else verdict(value >= minimum)


def below(value: float | None, maximum: float) -> str:
    """Verdict for a figure that must stay under ``maximum``."""
    return ERROR if value is None else verdict(value < maximum)


def at_most(value: float | None, maximum: float) -> str:
    """Verdict for a figure that may reach ``maximum`` but not pass it."""
    return ERROR if value is None else verdict(value <= maximum)


def skipped(metric: str, target: str, reason: str) -> Row:
    return Row(metric=metric, scalpel="-", reference=f"skipped: {reason}", target=target,
               verdict=SKIPPED)


def failed(metric: str, target: str, exc: BaseException) -> Row:
    message = f"{type(exc).__name__}: {exc}".replace("|", "/").replace("\n", " ")
    return Row(metric=metric, scalpel="-", reference=f"error: {message[:160]}", target=target,
               verdict=ERROR)


def markdown_table(rows: list[Row]) -> str:
    lines = ["| metric | Scalpel | reference | ratio | target | result |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r.metric} | {r.scalpel} | {r.reference} | {r.ratio} | {r.target} | "
              f"{r.verdict} |" for r in rows]
    return "\n".join(lines)


def machine_context() -> dict[str, str]:
    """What the figures depend on besides the code."""
    import psutil

    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.machine()}, {psutil.cpu_count(logical=True)} logical CPUs, "
                   f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM",
        "python": platform.python_version(),
        "load average at start": load_average(),
    }


class OtherLoad:
    """CPU time the rest of the machine used since creation (this process and its waited-for
    children excluded), as a share of all cores: how noisy the run was."""

    def __init__(self) -> None:
        self._start = self._busy_and_own()

    @staticmethod
    def _busy_and_own() -> tuple[float, float, float]:
        import psutil

        machine, own = psutil.cpu_times(), psutil.Process().cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        mine = own.user + own.system + own.children_user + own.children_system
        return busy, mine, time.monotonic()

    def share(self) -> str:
        import psutil

        busy, mine, now = self._busy_and_own()
        others = (busy - self._start[0]) - (mine - self._start[1])
        capacity = (now - self._start[2]) * (psutil.cpu_count() or 1)
        return f"{max(0.0, others) / capacity * 100:.0f} % of the machine's CPU time"


def load_average() -> str:
    """1/5/15-minute load: other work on the machine skews every figure."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def summary_line(rows: list[Row]) -> str:
    counts = {name: sum(r.verdict == name for r in rows)
              for name in (PASS, FAIL, SKIPPED, ERROR, INFO)}
    return ", ".join(f"{n} {name}" for name, n in counts.items() if n)


def document(results: Results, *, command: str, seconds: float) -> str:
    """The whole results.md: context, the table, and the notes under it."""
    header = ["# Scalpel benchmark suite", "",
              f"Command: `{command}`  ", f"Suite wall time: {seconds:.0f} s  "]
    header += [f"{key}: {value}  " for key, value in results.context.items()]
    body = ["", markdown_table(results.rows), "", f"Summary: {summary_line(results.rows)}"]
    notes = ["", "## Notes", ""] + [f"- {note}" for note in results.notes] if results.notes else []
    return "\n".join(header + body + notes) + "\n"


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
