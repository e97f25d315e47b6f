"""How sure the local model was of its own answer: per-token log-probabilities.

For each token a reply chooses, the natural-log probability the model gave it,
``logit[token] - logsumexp(logits)``, read from llama.cpp's logits in place (the
raw distribution: before temperature, penalties or grammar). The reply's figures
are quantiles of those values (min, 5th, 10th, 25th, 50th percentile, mean) and the
first token's margin over the runner-up: a long answer is not judged weaker for its
length, as it would be by the product of its probabilities (the sequence's
likelihood). core/escalation reads them to say when an answer looks weak.

Cost: one pass of ``exp`` over the vocabulary per token into a preallocated buffer
(SmolLM2: 49,152 floats, tens of microseconds against a decode of ~6 ms);
``python -m benchmarks`` measures decode speed with and without it.
"""

from __future__ import annotations

import math
from typing import Any, Callable

SAFE_EXP = 60.0   # float32 exp overflows past ~88.7; logits of chat models stay well below
QUANTILES = (("logprob_p05", 0.05), ("logprob_p10", 0.10), ("logprob_p25", 0.25),
             ("logprob_p50", 0.50))


class TokenConfidence:
    """Collects the chosen tokens' log-probabilities; ``observe`` runs once per token."""

    def __init__(self, logits: Callable[[], Any]) -> None:
        self._logits = logits            # (index=-1) -> numpy float32 view of those logits
        self.values: list[float] = []
        self.first_margin: float | None = None
        self._scratch = None

    def observe(self, token: int, index: int = -1) -> None:
        """Record ``token``'s log-probability under the logits after the last batch's
        token ``index`` (-1: its last)."""
        import numpy

        logits = self._logits(index)
        if self._scratch is None or self._scratch.shape != logits.shape:
            self._scratch = numpy.empty_like(logits)
        top = float(logits.max())
        scratch = self._scratch
        if top < SAFE_EXP:   # exp cannot overflow float32: one pass fewer
            numpy.exp(logits, out=scratch)
            log_total = math.log(float(scratch.sum()))
        else:
            numpy.subtract(logits, top, out=scratch)
            numpy.exp(scratch, out=scratch)
            log_total = top + math.log(float(scratch.sum()))
        value = float(logits[token]) - log_total
        if not self.values:
            two = numpy.partition(logits, -2)[-2:]
            self.first_margin = round(float(two[1] - two[0]), 4)
        self.values.append(value)

    def fields(self) -> dict[str, Any]:
        """The ReplyStats fields (types.ReplyStats.logprob_*) for what was observed."""
        values = sorted(self.values)
        if not values:
            return {"scored_tokens": 0}
        found: dict[str, Any] = {"scored_tokens": len(values),
                                 "logprob_min": round(values[0], 4),
                                 "logprob_mean": round(sum(values) / len(values), 4),
                                 "first_token_margin": self.first_margin}
        for name, q in QUANTILES:
            found[name] = round(quantile(values, q), 4)
        return found


def quantile(ordered: list[float], q: float) -> float:
    """The q-quantile of sorted values, linear between the two nearest (numpy's default)."""
    if len(ordered) == 1:
        return ordered[0]
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def observing(sample: Callable[[], int], confidence: TokenConfidence) -> Callable[[], int]:
    """``sample`` that also records the chosen token's log-probability."""
    observe = confidence.observe

    def sample_and_observe() -> int:
        token = sample()
        observe(token)
        return token

    return sample_and_observe
