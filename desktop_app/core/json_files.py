"""The one way Scalpel reads a JSON file: bounded in size and in nesting depth.

Python's ``json`` recurses once per ``[`` or ``{``, so a file holding
``"[" * 100000`` raises RecursionError (not ValueError) and takes down whatever
read it; a huge file takes the memory. :func:`read_json_file` checks the size
before reading (and never reads more than the limit, so a file that grows or a
device cannot get past it), then the nesting depth with a linear scan before
``json.loads`` runs, and raises :class:`JsonFileError`, one sentence naming the
file. Each caller turns that into its own "bad file" path.

Limits per kind of file (``MAX_BYTES_*``): settings, presets, the policy and the
catalog are hand-edited or shipped text, a few kilobytes today, so a few MB is
far beyond any real one. The models record and the digest cache grow by a few
hundred bytes per model. A chat backup holds every chat's text, so it gets far
more room, still bounded so that parsing it cannot exhaust memory.
"""

from __future__ import annotations

import json
import os
import re
from itertools import accumulate
from pathlib import Path
from typing import Any

from .errors import MB, ConfigError, format_size

# Scalpel's own files nest 5 levels, but a preset's JSON schema may take 32 schema levels
# (schema_check), about 67 JSON levels; Python's parser is safe far deeper than this.
MAX_DEPTH = 100
MAX_BYTES_SETTINGS = 1 * MB       # settings.json
MAX_BYTES_PRESET = 2 * MB         # one preset: a long system prompt, a JSON schema
MAX_BYTES_POLICY = 4 * MB         # policy.json: an allow-list of thousands of digests
MAX_BYTES_CATALOG = 4 * MB        # resources/catalog.json (11 KB today)
MAX_BYTES_RECORDS = 16 * MB       # installed.json, cache/model-digests.json
MAX_BYTES_CHATS = 256 * MB        # a chat export or a backup of every chat

# A JSON string (escapes included), or any run of characters that are not brackets.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonFileError(ConfigError):
    """A JSON file is missing, unreadable, too big, too deeply nested or not JSON.

    ``str()`` names the file; ``reason`` is the same without it, for callers that
    name the file themselves. ``missing`` tells a file that does not exist apart.
    """

    def __init__(self, path: Path, reason: str, *, missing: bool = False) -> None:
        super().__init__(f"{path} {reason}")
        self.path = Path(path)
        self.reason = reason
        self.missing = missing


def nesting_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting of JSON text, brackets inside strings not counted.

    Linear in the text and without recursion, so it is safe on any input; for
    text that is not JSON it is only an estimate (``json.loads`` rejects it next).
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def parse_json_text(text: str, *, path: Path, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` with the depth checked first; errors name ``path``."""
    depth = nesting_depth(text)
    if depth > max_depth:
        raise JsonFileError(path, f"is nested {depth:,} levels deep; Scalpel reads JSON "
                                  f"nested at most {max_depth} levels, so it was not read")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonFileError(path, f"is not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    except ValueError as exc:  # e.g. a number with more digits than Python converts
        raise JsonFileError(path, f"is not valid JSON ({exc})") from exc


def read_json_file(path: Path, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """The parsed content of ``path``, or :class:`JsonFileError` saying what is wrong.

    UTF-8 with or without a byte-order mark (Windows editors add one).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = _size_of(f)
            if size > max_bytes:
                raise _too_big(path, size, max_bytes)
            data = f.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise JsonFileError(path, "does not exist", missing=True) from exc
    except IsADirectoryError as exc:
        raise JsonFileError(path, "is a folder, not a file") from exc
    except OSError as exc:
        raise JsonFileError(path, f"cannot be read ({exc.strerror or exc})") from exc
    if len(data) > max_bytes:
        raise _too_big(path, None, max_bytes)  # it grew, or is a pipe or a device
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise JsonFileError(path, f"is not UTF-8 text (byte {exc.start:,} cannot be "
                                  "read)") from exc
    return parse_json_text(text, path=path, max_depth=max_depth)


def _size_of(f) -> int:
    """The size the file system reports (0 for pipes and devices: the read is bounded)."""
    try:
        return os.fstat(f.fileno()).st_size
    except OSError:
        return 0


def _too_big(path: Path, size: int | None, max_bytes: int) -> JsonFileError:
    what = f"is {format_size(size)}, more than" if size else "is larger than"
    return JsonFileError(path, f"{what} the {format_size(max_bytes)} Scalpel reads for this "
                               "kind of file, so it was not read")
