"""The wire format between Scalpel and its engine process: one JSON object per line.

Requests (parent -> child, on the child's stdin)::

    {"id": 7, "op": "load", "args": {...}}       every op but "cancel" answers once
    {"op": "cancel", "id": 7}                     handled at once, even mid-request

Replies (child -> parent, on the child's stdout)::

    {"ready": <pid>}                              once, when the child can take requests
    {"id": 7, "event": {...}}                     0..n streamed events of a "generate"
    {"id": 7, "result": ...}                      the request succeeded
    {"id": 7, "error": {"type": ..., "message": ..., "attrs": {...}}}

Errors cross as their ``errors`` class name, message and plain attributes, so
the parent re-raises the same typed error (a ``ContextOverflowError`` stays
one) and ``str(error)`` is the same sentence a person would have read.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .. import errors

OPS = ("load", "generate", "unload", "set_keep_loaded", "render_prompt",
       "count_prompt_tokens", "stats", "embed")


_SURROGATE = re.compile("[\ud800-\udfff]")


def encode(message: dict[str, Any]) -> bytes:
    """One line. Never fails on text: a lone surrogate (from undecodable bytes) becomes
    U+FFFD, so no request is lost on its way (a lost request would wait forever)."""
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        data = _SURROGATE.sub("\ufffd", text).encode("utf-8")
    return data + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError(f"expected a JSON object, got {type(message).__name__}")
    return message


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


UNEXPECTED_MESSAGE = "The engine failed unexpectedly; details are in the log."


def error_to_dict(exc: BaseException) -> dict[str, Any]:
    """What a child sends for ``exc``. Anything not a ScalpelError becomes one plain
    sentence: its text may hold paths, prompt fragments or library internals, so it stays
    in the child's log (``EngineServer.serve`` logs the traceback where it catches it)."""
    if isinstance(exc, errors.ScalpelError):
        attrs = {k: v for k, v in vars(exc).items() if _plain(v)}
        return {"type": type(exc).__name__, "message": str(exc), "attrs": attrs}
    return {"type": "EngineError", "attrs": {}, "message": UNEXPECTED_MESSAGE}


def error_from_dict(data: dict[str, Any]) -> errors.ScalpelError:
    """The typed error a child reported, rebuilt without calling its constructor
    (several take figures rather than a message)."""
    cls = getattr(errors, str(data.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.ScalpelError)):
        cls = errors.EngineError
    exc = cls.__new__(cls)
    Exception.__init__(exc, str(data.get("message") or "The engine failed."))
    attrs = data.get("attrs")
    if isinstance(attrs, dict):
        exc.__dict__.update({k: v for k, v in attrs.items() if isinstance(k, str)})
    return exc
