"""Fitting a long chat into the context window without losing the system prompt.

When the prompt plus room for the answer no longer fits, the oldest turns are
left out (never the system prompt, never the newest user message), always
cutting just before a user message so the kept history reads as a
conversation. The cut is deliberately generous (down to ``TARGET_FILL`` of the
room) and remembered: the next turns keep the same cut while they fit, so
their prompts share a prefix and llama.cpp reuses the KV cache instead of
re-reading the whole history every turn.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

from ..errors import ContextOverflowError
from .types import Message

TARGET_FILL = 0.6      # after a cut, the prompt fills at most this share of the room
ANSWER_SHARE = 4       # room kept for the answer: max_tokens, at most 1/4 of the context


@dataclass(frozen=True)
class FittedPrompt:
    messages: list[Message]
    tokens: list[int]
    dropped: int               # leading non-system messages left out


class HistoryFitter:
    """Remembers the last cut so consecutive turns share their prompt prefix."""

    def __init__(self) -> None:
        self._cut: tuple[str, int] | None = None  # (digest of the dropped messages, count)

    def fit(self, messages: list[Message], *, n_ctx: int, max_tokens: int,
            tokenize: Callable[[list[Message]], list[int]]) -> FittedPrompt:
        tokens = tokenize(messages)
        room = n_ctx - min(max_tokens, n_ctx // ANSWER_SHARE)
        if len(tokens) <= room:
            self._cut = None
            return FittedPrompt(messages, tokens, 0)
        system, turns = _split_system(messages)
        cuts = [i for i, m in enumerate(turns) if i > 0 and m["role"] == "user"]
        if not cuts:  # one long message: answer in whatever room is left, if any
            return self._whole_or_overflow(FittedPrompt(messages, tokens, 0), n_ctx)

        def attempt(cut: int) -> FittedPrompt:
            kept = [*system, *turns[cut:]]
            return FittedPrompt(kept, tokenize(kept), cut)

        remembered = self._remembered_cut(turns)
        if remembered in cuts:
            fitted = attempt(remembered)
            if len(fitted.tokens) <= room:
                return fitted
        fitted = self._smallest_cut_under(cuts, attempt, int(room * TARGET_FILL))
        if fitted is None:  # even the newest turn alone is long: keep just that
            fitted = self._whole_or_overflow(attempt(cuts[-1]), n_ctx)
        self._cut = (_digest(turns[:fitted.dropped]), fitted.dropped)
        return fitted

    @staticmethod
    def _whole_or_overflow(fitted: FittedPrompt, n_ctx: int) -> FittedPrompt:
        if len(fitted.tokens) >= n_ctx:
            raise ContextOverflowError(len(fitted.tokens), n_ctx)
        return fitted

    @staticmethod
    def _smallest_cut_under(cuts: list[int], attempt: Callable[[int], FittedPrompt],
                            target: int) -> FittedPrompt | None:
        """Binary search: prompts shrink as the cut moves later."""
        low, high, best = 0, len(cuts) - 1, None
        while low <= high:
            middle = (low + high) // 2
            fitted = attempt(cuts[middle])
            if len(fitted.tokens) <= target:
                best, high = fitted, middle - 1
            else:
                low = middle + 1
        return best

    def _remembered_cut(self, turns: list[Message]) -> int | None:
        if self._cut is None:
            return None
        digest, count = self._cut
        return count if count < len(turns) and _digest(turns[:count]) == digest else None


def _split_system(messages: list[Message]) -> tuple[list[Message], list[Message]]:
    if messages and messages[0]["role"] == "system":
        return messages[:1], messages[1:]
    return [], list(messages)


def _digest(messages: list[Message]) -> str:
    hasher = hashlib.sha256()
    for message in messages:
        hasher.update(message["role"].encode() + b"\0" + message["content"].encode() + b"\0")
    return hasher.hexdigest()
