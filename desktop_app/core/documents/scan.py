"""Which files of a collection's folders are documents, and their size and mtime.

A path added on its own is always taken (an unsupported one then gets its problem, by
name). Inside folders, files with a readable extension are taken, and so are the
document formats Scalpel refuses (.doc, .epub, ...) so the person sees why they are
missing; images, archives and programs are passed over silently, as are hidden files
and folders (names starting with "."). Links to folders are not followed (no loops).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

from .readers import REFUSED, TEXT_SUFFIXES

Stat = tuple[int, int]  # (size in bytes, mtime in ns)


def _wanted(name: str) -> bool:
    suffix = os.path.splitext(name)[1].lower()
    return suffix in TEXT_SUFFIXES or suffix in REFUSED


def walk(root: str, *, on_error: Callable[[str, OSError], None] | None = None
         ) -> dict[str, Stat]:
    """path -> stat of the documents at ``root`` (a file or a folder), sorted by path. A
    path that cannot be looked at is reported to ``on_error`` (an added path that has
    gone, a folder one may not open)."""
    found: dict[str, Stat] = {}
    try:
        info = os.stat(root)
    except OSError as exc:
        if on_error:
            on_error(root, exc)
        return found
    if not os.path.isdir(root):
        found[root] = (info.st_size, info.st_mtime_ns)
        return found

    def failed(exc: OSError) -> None:
        if on_error and exc.filename:
            on_error(str(exc.filename), exc)

    for folder, dirs, files in os.walk(root, onerror=failed):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or not _wanted(name):
                continue
            path = os.path.join(folder, name)
            try:
                info = os.stat(path)
            except OSError as exc:
                if on_error:
                    on_error(path, exc)
                continue
            found[path] = (info.st_size, info.st_mtime_ns)
    return found


def snapshot(roots: Iterable[str]) -> dict[str, Stat]:
    """Every document under ``roots`` with its stat (the watcher compares two)."""
    found: dict[str, Stat] = {}
    for root in roots:
        found.update(walk(root))
    return found


def normalize(path: str | Path) -> str:
    """The absolute form a path is stored under."""
    return str(Path(path).expanduser().absolute())
