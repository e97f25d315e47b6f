"""From a stored chat branch to what the engine reads, and a new chat's title."""

from __future__ import annotations

from typing import Callable, Protocol

from .engine.types import Message
from .presets import Preset


class StoredTurn(Protocol):
    role: str
    content: str
    preset_id: str | None


def engine_history(path: list[StoredTurn], *,
                   preset_for: Callable[[str | None], Preset | None]) -> list[Message]:
    """The messages the engine gets for a chat branch (the system prompt is added later).

    A user message is stored as typed and wrapped here in the input template of
    the preset it was sent with, so the prompt for earlier turns stays the same
    (and the KV cache reusable) whatever task the chat is switched to later.
    Answers that have no text (interrupted before their first word) are left out.
    """
    history: list[Message] = []
    for turn in path:
        if not turn.content:
            continue
        content = turn.content
        if turn.role == "user":
            preset = preset_for(turn.preset_id)
            content = preset.user_content(content) if preset else content
        history.append({"role": turn.role, "content": content})
    return history


def title_from(text: str, *, limit: int = 48) -> str:
    """A chat title from its first message: the first line, cut at a word."""
    line = next((part.strip() for part in text.strip().splitlines() if part.strip()), "")
    if len(line) <= limit:
        return line or "New chat"
    cut = line[:limit].rsplit(" ", 1)[0] or line[:limit]
    return cut.rstrip(" ,.;:") + "…"
