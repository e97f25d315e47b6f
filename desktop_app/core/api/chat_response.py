"""OpenAI's chat response shapes from the engine's events, and the ``stop`` strings.

The engine stops at its chat format's own stop strings; a request's ``stop`` strings
are found here, in the streamed text: text that could be the start of one is held
back until it is known not to be, the text from a match on is never sent, and the
generation is cancelled so the engine is free at once.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from ..engine.types import ReplyStats

FINISH_REASONS = {"stop": "stop", "length": "length", "context_full": "length",
                  "repetition": "stop"}  # a loop ended early (engine/repetition.py)


class StopScanner:
    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self._held = ""
        self.hit = False

    def feed(self, text: str) -> str:
        """The part of ``text`` (after what was held) that can be sent now."""
        if self.hit:
            return ""
        if not self.stops:
            return text
        buffer = self._held + text
        found = [i for i in (buffer.find(s) for s in self.stops) if i >= 0]
        if found:
            self.hit, self._held = True, ""
            return buffer[:min(found)]
        keep = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(buffer)), keep, -1):
                if buffer.endswith(stop[:k]):
                    keep = k
                    break
        self._held = buffer[len(buffer) - keep:]
        return buffer[:len(buffer) - keep]

    def flush(self) -> str:
        """At the end: what was held back was not a stop string after all."""
        held, self._held = self._held, ""
        return "" if self.hit else held


def finish_reason(engine_reason: str, stopped_here: bool) -> str:
    if stopped_here:
        return "stop"
    return FINISH_REASONS.get(engine_reason, "stop")


def usage(stats: ReplyStats | None) -> dict[str, int]:
    prompt = stats.prompt_tokens if stats else 0
    completion = stats.completion_tokens if stats else 0
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


class Completion:
    """One response's id, time and model, shared by its chunks."""

    def __init__(self, model: str) -> None:
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.created = int(time.time())
        self.model = model

    def whole(self, text: str, reason: str, stats: ReplyStats | None) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "logprobs": None, "finish_reason": reason}],
                "usage": usage(stats)}

    def chunk(self, delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None,
                             "finish_reason": reason}]}

    def usage_chunk(self, stats: ReplyStats | None) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": [], "usage": usage(stats)}


def sse(data: dict[str, Any] | str) -> bytes:
    """One server-sent event: ``data: <json>`` and a blank line."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode("utf-8")
