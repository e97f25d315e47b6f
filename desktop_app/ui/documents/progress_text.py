"""Indexing progress and per-file status as the sentences the window shows.

Plain functions of plain data (IndexProgress, FileRow), so the Documents window, the
chat's documents bar and the tests read the same words.
"""

from __future__ import annotations

from pathlib import Path

from ...core.documents import FileRow, IndexProgress


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def progress_line(progress: IndexProgress | None, *, paused: bool = False) -> str:
    """"Reading 3 of 7 files · 12 pages · 40 passages/s · 5 s left" and the like."""
    if progress is None:
        return ""
    left = (f" · {duration(progress.seconds_left)} left"
            if progress.seconds_left is not None else "")
    if progress.phase == "scanning":
        line = "Looking for changed files…"
    elif progress.phase == "reading":
        line = (f"Reading {progress.files_done} of {progress.files_total} files · "
                f"{progress.pages} pages · {progress.chunks} passages · "
                f"{progress.chunks_per_second:.0f} passages/s{left}")
    elif progress.phase == "embedding":
        line = (f"Embedding {progress.chunks} of {progress.chunks_total} passages · "
                f"{progress.chunks_per_second:.0f} passages/s{left}")
    elif progress.phase == "cancelled":
        return ("Indexing cancelled; what was read is kept, and the rest is read at the "
                "next re-scan.")
    else:
        return "Indexing done."
    return ("Paused · " + line) if paused else line


def short_progress(progress: IndexProgress | None) -> str:
    """The chat bar's few words: "indexing 3 of 7…"."""
    if progress is None or progress.phase in ("done", "cancelled"):
        return ""
    if progress.phase == "reading" and progress.files_total:
        return f"indexing {progress.files_done} of {progress.files_total}…"
    if progress.phase == "embedding" and progress.chunks_total:
        return f"embedding {progress.chunks} of {progress.chunks_total} passages…"
    return "indexing…"


def file_status(row: FileRow) -> tuple[str, str]:
    """(status, details) of one file: ("Indexed", "3 pages, 12 passages") or
    ("Scanned PDF", the problem's sentence without the file's name)."""
    if row.problem is None:
        pages = f"{row.pages} pages, " if row.pages else ""
        return "Indexed", f"{pages}{row.chunks} passages"
    return PROBLEM_NAMES.get(row.problem.kind, "Not indexed"), without_name(
        row.problem.sentence, row.path)


PROBLEM_NAMES = {"unsupported": "Format not read", "scanned": "Scanned PDF",
                 "encrypted": "Encrypted", "empty": "Empty", "binary": "Binary",
                 "too_large": "Too big", "unreadable": "Unreadable", "damaged": "Damaged",
                 "refused": "Refused by policy"}


def without_name(sentence: str, path: str) -> str:
    """A problem's sentence after the file's name (the row shows the name already)."""
    name = Path(path).name + ": "
    return sentence[len(name):] if sentence.startswith(name) else sentence
