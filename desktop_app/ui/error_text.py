"""The one place where a typed error becomes what the window shows.

Core errors say what happened and what to do in words that fit every face;
where the remedy is a place in this window, the window adds it here (the
terminal adds its flag in cli/dispatch.py).
"""

from __future__ import annotations

from ..core.errors import InsufficientMemoryError


def for_window(message: str, cause: BaseException | None = None) -> str:
    """``message`` (the error's sentence) with where to act in this window, if anywhere."""
    if isinstance(cause, InsufficientMemoryError) and cause.suggested_n_ctx:
        return f"{message} The context size is under Task ▸ Edit presets ▸ Context size."
    return message
