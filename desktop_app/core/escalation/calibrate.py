"""The weak-answer threshold that escalates about a chosen share of one's own requests.

The share of answers a fixed threshold escalates drifts with the mix of requests (RouteLLM's
users' first question), so the threshold is set from a file of requests like one's own:
each gets a short local answer through the engine (routed as Auto would, with its
preset's prompt and sampling, a fixed seed), the answer's 10th-percentile token
log-probability is read from its stats, and the threshold is put between the scores so
that ``budget`` of them fall below it (``scalpel route calibrate FILE.jsonl --budget 0.2``).

Only the log-probability signal is calibrated: the other signals (cut off, empty, a loop)
are facts about an answer, not a dial, and a short calibration answer is cut off by design.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..errors import ScalpelError, UsageError

SIGNAL = "logprob_p10"
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_TEXT_CHARS = 20_000


@dataclass(frozen=True)
class ScoredRequest:
    index: int
    preset_id: str
    score: float | None        # the answer's logprob_p10 (None: not measured)
    scored_tokens: int
    finish_reason: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "preset_id": self.preset_id, "score": self.score,
                "scored_tokens": self.scored_tokens, "finish_reason": self.finish_reason,
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class Calibration:
    signal: str
    budget: float
    threshold: float
    requests: int
    scored: int
    share: float               # the share of the scored requests the threshold escalates

    def to_dict(self) -> dict[str, Any]:
        return {"signal": self.signal, "budget": self.budget,
                "threshold": round(self.threshold, 4), "requests": self.requests,
                "scored": self.scored, "share": round(self.share, 4)}


def read_requests(path: Path) -> list[str]:
    """The ``text`` of each JSON line of ``path`` (blank lines skipped); UsageError naming
    the line when one is not an object with a non-empty text."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise UsageError(f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; "
                             "calibrate on a sample of your requests")
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text") from exc
    texts = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            item = None
        text = item.get("text") if isinstance(item, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise UsageError(f"{path}, line {number}: each line must be a JSON object with a "
                             "\"text\", like {\"text\": \"Summarize this: ...\"}")
        texts.append(text[:MAX_TEXT_CHARS])
    if not texts:
        raise UsageError(f"{path} holds no requests (JSON lines with a \"text\")")
    return texts


def score_requests(engine, texts: Sequence[str], *, presets: Sequence, max_tokens: int = 48,
                   seed: int = 1234,
                   on_progress: Callable[[int, int], None] | None = None) -> list[ScoredRequest]:
    """A short local answer to each text on ``engine`` (loaded), as Auto would route it."""
    from ..routing import Router

    router = Router(list(presets))
    by_id = {p.id: p for p in presets}
    scored = []
    for index, text in enumerate(texts):
        preset = by_id.get(router.route(text, steps=("signals", "examples")).preset_id)
        user = [{"role": "user", "content": preset.user_content(text) if preset else text}]
        messages = preset.messages(user) if preset else user
        params = preset.generation_params() if preset else None
        if params is None:
            from ..engine.types import GenerationParams
            params = GenerationParams()
        params = replace(params, max_tokens=min(max_tokens, params.max_tokens), seed=seed)
        started = time.perf_counter()
        with engine.generate(messages, params) as handle:
            finished = handle.result()
        stats = finished.stats
        scored.append(ScoredRequest(index, preset.id if preset else "", stats.logprob_p10,
                                    stats.scored_tokens, finished.reason,
                                    time.perf_counter() - started))
        if on_progress:
            on_progress(index + 1, len(texts))
    return scored


def threshold_for_share(scores: Iterable[float | None], budget: float) -> float:
    """A threshold such that ``budget`` of the measured scores lie strictly below it."""
    values = sorted(s for s in scores if s is not None and math.isfinite(s))
    if not values:
        raise ScalpelError("the engine reported no token log-probabilities for these "
                           "answers, so no threshold can be set from them")
    below = round(budget * len(values))
    if below <= 0:
        return values[0]
    if below >= len(values):
        return math.nextafter(values[-1], math.inf)
    return (values[below - 1] + values[below]) / 2


def escalated_share(scores: Iterable[float | None], threshold: float) -> float:
    values = [s for s in scores if s is not None and math.isfinite(s)]
    return sum(s < threshold for s in values) / len(values) if values else 0.0


def calibrate(scored: Sequence[ScoredRequest], budget: float) -> Calibration:
    if not 0.0 <= budget <= 1.0:
        raise UsageError(f"the budget is a share from 0 to 1 (0.2 is 20 %), not {budget}")
    scores = [s.score for s in scored]
    threshold = threshold_for_share(scores, budget)
    measured = sum(s is not None for s in scores)
    return Calibration(SIGNAL, budget, threshold, len(scored), measured,
                       escalated_share(scores, threshold))
