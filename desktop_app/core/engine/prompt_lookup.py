"""Prompt-lookup decoding: guesses copied from the conversation, checked in one batch.

Summaries, extractions and code edits repeat stretches of their input. When the
last few tokens also occur earlier in the prompt (or the answer so far), the
tokens that followed them there are a cheap guess of what comes next: a *draft*.
The model evaluates the pending token and the draft in one ``llama_decode`` with
logits for each position, and the reply's own sampler picks the token at each
position exactly as it would have one at a time. A drafted token is kept only
while it equals that pick; the first pick that differs ends the step and becomes
the next token. Every token is therefore drawn from the same distribution as in
plain decoding (a draft is a single guess, so no rejection sampling is needed):
greedy answers are the same token for token, grammar and penalty state see the
same tokens in the same order.

A batch is not free on a CPU. SmolLM2-135M on this 2-core machine, 300 tokens
deep, 2 threads: one token 11 ms, 2 tokens 20 ms, 3 tokens 22 ms, 9 tokens
47 ms (1 thread: 16, 29, 36, 82 ms). Each extra token costs 0.35-0.5 of a single
decode, because the model is small enough to be compute-bound and the output
layer runs for every position; bigger, memory-bound models pay much less. So a
wrong guess makes the answer slower, and ``DraftPolicy`` decides each step how
many drafted tokens to check: the length that maximizes expected tokens per unit
of time, from the acceptance seen so far in this reply and the measured cost of
a batch. When guesses keep failing it drafts nothing (plain decoding, one token
per decode), and tries again once the failures have aged out.

Bit-for-bit sameness depends on llama.cpp's kernels, measured here: with flash
attention on one thread a token gets the same logits alone or in a batch of up
to 33 (tested). Without flash attention batches of 2+ go through tinyBLAS and
round differently (up to 0.43 in a logit); with flash attention on 2 threads,
a context a few hundred tokens deep splits one token's attention across the
threads but not a batch's (up to 0.7). There a near-tie can go the other way,
as it already can when a prompt's last token is evaluated alone (from the
cache) or inside the prompt's first batch.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from .decode import Decoder, Sampler

MAX_DRAFT = 12        # drafted tokens checked in one decode, at most
# A shorter shared stretch is too weak a hint: 2-token matches (". The", "of the") are
# everywhere in text that does not copy, and each failed draft costs a batch.
MIN_NGRAM = 3
MAX_NGRAM = 4


class NgramIndex:
    """The conversation's tokens, and where each 3- and 4-gram last ended.

    ``draft()`` finds the latest earlier occurrence of the longest trailing n-gram
    and returns the tokens that followed it, with that n (a longer match is a
    better guess). Appending a token registers the n-grams that end just before it,
    so a lookup never finds the tail itself.
    """

    def __init__(self, tokens: list[int], *, min_n: int = MIN_NGRAM,
                 max_n: int = MAX_NGRAM) -> None:
        self.tokens: list[int] = []
        self._sizes = tuple(range(max_n, min_n - 1, -1))
        self._ends: dict[tuple[int, ...], int] = {}   # n-gram -> end of its latest occurrence
        for token in tokens:
            self.append(token)

    def append(self, token: int) -> None:
        tokens, ends = self.tokens, self._ends
        end = len(tokens)
        for n in self._sizes:
            if end >= n:
                ends[tuple(tokens[end - n:end])] = end
        tokens.append(token)

    def draft(self, limit: int) -> tuple[list[int], int]:
        """Up to ``limit`` tokens that followed the tail's latest earlier occurrence,
        and the length of the n-gram matched (0: no match)."""
        tokens, end = self.tokens, len(self.tokens)
        for n in self._sizes:
            if end >= n:
                found = self._ends.get(tuple(tokens[end - n:end]))
                if found is not None:
                    return tokens[found:found + limit], n
        return [], 0


class DraftPolicy:
    """How many drafted tokens one step checks: the number that maximizes expected
    tokens per unit of decode time.

    Expected tokens for a draft of ``k``: ``1 + p + p^2 + ... + p^k`` (the pending
    token, then each drafted one while every earlier one was kept), with ``p`` the
    share of drafted tokens kept so far after a match of the same n-gram length
    (starting from 0.9 after four shared tokens, 0.8 after three), decayed so that
    old failures age out. Cost, in single-decode times:
    ``1 + OVERHEAD + marginal * k`` (measured here, 1 and 2 threads: a batch of 2
    costs 1.8, of 9 4.2-5.2: a fixed ~0.4 for going batched, then 0.35-0.5 a
    token); ``marginal`` is re-measured as the reply goes. A draft of one token
    never pays (1 + p < 1.8), so the shortest draft is two.
    """

    PRIOR = {4: 0.9, 3: 0.8}             # p before any try, worth PRIOR_TRIED tries
    PRIOR_TRIED = 2.0
    DECAY = 0.985                        # per step: a failure's weight halves in ~46 tokens
    SMOOTH = 0.25                        # weight of a new timing in the running averages
    OVERHEAD = 0.4                       # a batch's fixed cost over a single decode
    SHORTEST = 2

    def __init__(self, *, max_draft: int = MAX_DRAFT, marginal: float = 0.45) -> None:
        self.max_draft = max_draft
        self.marginal = marginal          # cost of one more token in a batch / one decode
        self.single: float | None = None  # seconds of a one-token decode, running average
        self.kept = {n: 0.0 for n in range(MIN_NGRAM, MAX_NGRAM + 1)}
        self.tried = dict(self.kept)
        self.drafted = self.accepted = 0  # totals for ReplyStats

    def acceptance(self, n: int = MAX_NGRAM) -> float:
        prior = self.PRIOR.get(n, 0.7)
        return (self.kept[n] + prior * self.PRIOR_TRIED) / (self.tried[n] + self.PRIOR_TRIED)

    def length(self, available: int, n: int = MAX_NGRAM) -> int:
        """Drafted tokens to check this step after a match of ``n`` tokens (0: decode
        the pending token alone)."""
        available = min(available, self.max_draft)
        if available < self.SHORTEST or not n or self.single is None:
            return 0   # the first step times a single decode, the yardstick
        p, marginal = self.acceptance(n), self.marginal
        best, best_rate = 0, 1.0
        expected, term = 1.0, 1.0
        for k in range(1, available + 1):
            term *= p
            expected += term
            rate = expected / (1.0 + self.OVERHEAD + marginal * k)
            if rate > best_rate and k >= self.SHORTEST:
                best, best_rate = k, rate
        return best

    def record(self, drafted: int, kept: int, seconds: float, n: int = MAX_NGRAM) -> None:
        """One step: ``drafted`` tokens checked after an ``n``-token match, the first
        ``kept`` of them kept."""
        for size in self.kept:
            self.kept[size] *= self.DECAY
            self.tried[size] *= self.DECAY
        if drafted == 0:
            self.single = seconds if self.single is None else (
                self.single + self.SMOOTH * (seconds - self.single))
            return
        self.drafted += drafted
        self.accepted += kept
        self.kept[n] += kept
        self.tried[n] += kept + (kept < drafted)   # positions checked: kept ones and the miss
        if self.single:
            observed = max(0.0, (seconds / self.single - 1.0 - self.OVERHEAD) / drafted)
            self.marginal += self.SMOOTH * (observed - self.marginal)


class PromptLookup:
    """Prompt-lookup decoding for one reply (see the module's docstring)."""

    def __init__(self, *, policy: DraftPolicy | None = None) -> None:
        self.policy = policy or DraftPolicy()

    @property
    def drafted(self) -> int:
        return self.policy.drafted

    @property
    def accepted(self) -> int:
        return self.policy.accepted

    def stream(self, decoder: "Decoder", new_tokens: list[int], sampler: "Sampler",
               cancel: threading.Event) -> Iterator[int]:
        """``Decoder.stream``'s contract, with drafts: yields the same tokens; a token
        enters the KV cache for good only once the caller asks for the one after it."""
        if not decoder.evaluate(new_tokens, cancel):
            return
        from .llama_api import ScoredBatch

        policy, sample_at = self.policy, sampler.sample_at
        kv = decoder.kv_tokens
        index = NgramIndex(kv)
        batch = ScoredBatch(policy.max_draft + 1)
        committed = len(kv)    # positions whose token the caller has moved past
        clock = time.perf_counter
        try:
            token = sample_at(-1)
            while not cancel.is_set():
                yield token
                index.append(token)
                draft, matched = index.draft(policy.max_draft)
                draft = draft[:policy.length(len(draft), matched)]
                draft = draft[:self._room(decoder, len(draft))]
                started = clock()
                code = batch.decode(decoder.ctx, [token, *draft], len(kv))
                seconds = clock() - started
                if code != 0:
                    decoder.decode_failed(code, cancel)
                    return
                kv.append(token)
                kv.extend(draft)
                committed += 1
                if decoder.watch is not None:
                    decoder.watch.after_token()
                kept = 0
                for i, guess in enumerate(draft):
                    token = sample_at(i)
                    if token != guess:
                        break
                    kept += 1
                    yield token
                    committed += 1
                    index.append(token)
                else:
                    token = sample_at(len(draft))
                if committed < len(kv):
                    decoder.truncate(committed)
                policy.record(len(draft), kept, seconds, matched)
        finally:
            if committed < len(kv):
                decoder.truncate(committed)   # drafts nobody asked for never stay cached
            batch.close()

    @staticmethod
    def _room(decoder: "Decoder", drafted: int) -> int:
        """How many drafted tokens fit beside the pending one (the context may grow)."""
        needed = len(decoder.kv_tokens) + 1 + drafted
        if needed > decoder.cells:
            decoder.reserve(needed)
        return max(0, min(drafted, decoder.cells - len(decoder.kv_tokens) - 1))
