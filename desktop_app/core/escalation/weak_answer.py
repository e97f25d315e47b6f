"""Is a local answer weak enough to ask the bigger model? The local model's own signals.

After an answer (``assess``): low token log-probabilities (per-token quantiles from
``ReplyStats``, which length does not bias, unlike the sequence's product), a repetition
loop in the text, an empty answer, an answer cut off by the length limit or the context.
Before an answer (``before_answer``): the request cannot fit the local model's context, or
the task's preset says it always goes to the bigger model.

Everything comes back as plain data: each signal with its value and its threshold, so
Model details and ``--json`` show exactly why (or why not), and a short phrase per reason
for people. Nothing here talks to an engine or the network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..engine.types import ReplyFinished
from .config import Thresholds

CUT_OFF_REASONS = {"length": "the answer was cut off at its length limit",
                   "context_full": "the answer filled the local model's context",
                   "repetition": "the answer fell into a loop and was stopped"}
TAIL_UNITS = 256          # the repetition check looks at the answer's last 256 words
MIN_LOOP_UNITS = 12       # a loop must cover at least this many words to count
MAX_PERIOD = 64           # the longest repeated phrase looked for, in words
_WORDS = re.compile(r"\S+")
CHARS_PER_TOKEN = 4        # a rough count without a tokenizer (said "about" when used)


def estimate_tokens(characters: int) -> int:
    """Tokens in a text of ``characters`` characters, roughly, when no tokenizer is at hand
    (the window's process never loads one): about 4 characters a token in English."""
    return -(-max(0, characters) // CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Signal:
    """One measurement and the bar it is held to (``threshold`` None: not judged)."""
    name: str
    value: float | None
    threshold: float | None
    weak: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "threshold": self.threshold,
                "weak": self.weak, "note": self.note}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Signal":
        return cls(name=str(data["name"]), value=data.get("value"),
                   threshold=data.get("threshold"), weak=bool(data["weak"]),
                   note=str(data.get("note", "")))


@dataclass(frozen=True)
class Assessment:
    """``weak``: at least one signal says so. ``reasons``: a phrase per weak signal."""
    weak: bool
    reasons: tuple[str, ...]
    signals: tuple[Signal, ...]
    stage: str = "after"          # "after" an answer, or "before" one

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    def signal(self, name: str) -> Signal | None:
        return next((s for s in self.signals if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {"weak": self.weak, "reasons": list(self.reasons), "stage": self.stage,
                "signals": [s.to_dict() for s in self.signals]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Assessment":
        return cls(weak=bool(data["weak"]), reasons=tuple(data.get("reasons", ())),
                   signals=tuple(Signal.from_dict(s) for s in data.get("signals", ())),
                   stage=str(data.get("stage", "after")))


def assess(finished: ReplyFinished, text: str | None = None,
           thresholds: Thresholds = Thresholds()) -> Assessment:
    """Judge one finished local answer (``text``: the answer shown, default its own)."""
    text = finished.text if text is None else text
    stats = finished.stats
    if finished.reason == "cancelled":  # the person stopped it: nothing to judge
        return Assessment(False, (), (Signal("cancelled", 1.0, None, False,
                                             "stopped by the person; not judged"),))
    signals = [
        Signal("empty", float(len(text.strip())), None, not text.strip(),
               "characters of visible text"),
        Signal("cut_off", 1.0 if finished.reason in CUT_OFF_REASONS else 0.0, None,
               finished.reason in CUT_OFF_REASONS, f"finish reason: {finished.reason}"),
    ]
    repeated = repetition_share(text)
    signals.append(Signal("repetition", round(repeated, 3), thresholds.repetition,
                          repeated >= thresholds.repetition,
                          "share of the answer's tail inside one repeated run"))
    enough = stats.scored_tokens >= thresholds.min_scored_tokens
    for name, value, bar in (("logprob_p10", stats.logprob_p10, thresholds.logprob_p10),
                             ("logprob_mean", stats.logprob_mean, thresholds.logprob_mean),
                             ("first_token_margin", stats.first_token_margin,
                              thresholds.first_token_margin)):
        note = (f"{stats.scored_tokens} scored tokens" if value is not None
                else "not measured by this engine")
        if value is not None and not enough:
            note = f"only {stats.scored_tokens} scored tokens: not judged"
        weak = value is not None and bar is not None and enough and value < bar
        signals.append(Signal(name, None if value is None else round(value, 4), bar, weak, note))
    reasons = tuple(_phrase(s) for s in signals if s.weak)
    return Assessment(bool(reasons), reasons, tuple(signals), "after")


def before_answer(*, prompt_tokens: int, context_size: int, reply_tokens: int = 0,
                  preset_escalate: str | None = None, preset_name: str | None = None,
                  estimated: bool = False) -> Assessment:
    """Checks before any local answer: does the request (plus ``reply_tokens`` kept for the
    answer) fit the local model's context; does the preset say ``"escalate": "always"``.
    ``estimated``: the token count is a guess from the text's length (no tokenizer)."""
    needed = prompt_tokens + max(0, reply_tokens)
    fits = context_size <= 0 or needed <= context_size
    about = "about " if estimated else ""
    signals = [Signal("context_fit", float(needed), float(context_size), not fits,
                      f"{about}{prompt_tokens} prompt tokens + {reply_tokens} for the answer"),
               Signal("preset_always", 1.0 if preset_escalate == "always" else 0.0, None,
                      preset_escalate == "always",
                      f"preset's escalate: {preset_escalate or 'not set'}")]
    reasons = []
    if not fits:
        reasons.append(f"the request ({about}{needed:,} tokens with room for the answer) "
                       f"does not fit the local model's context ({context_size:,})")
    if preset_escalate == "always":
        task = f"the task {preset_name}" if preset_name else "this task"
        reasons.append(f"{task} always goes to the bigger model")
    return Assessment(bool(reasons), tuple(reasons), tuple(signals), "before")


def repetition_share(text: str) -> float:
    """The share of the answer's tail (its last TAIL_UNITS words; characters for text
    without spaces) covered by one run that repeats itself: a phrase of 1..MAX_PERIOD
    units said again and again up to the end, as a looping model does."""
    units = _WORDS.findall(text)
    if len(units) < MIN_LOOP_UNITS and len(text.strip()) >= 4 * MIN_LOOP_UNITS:
        units = [c for c in text if not c.isspace()]   # e.g. Chinese or Japanese text
    tail = units[-TAIL_UNITS:]
    if len(tail) < MIN_LOOP_UNITS:
        return 0.0
    best = 0
    # An answer cut at a token limit often ends inside a word ("… kabul, kabul, kab"):
    # the loop is then read up to the unit before it.
    for end in (len(tail), len(tail) - 1):
        for period in range(1, min(MAX_PERIOD, end // 2) + 1):
            run = 0
            for index in range(end - 1, period - 1, -1):
                if tail[index] != tail[index - period]:
                    break
                run += 1
            covered = run + period       # the first copy plus every unit that repeats it
            if run >= period and covered >= MIN_LOOP_UNITS:
                best = max(best, covered + len(tail) - end)
    return best / len(tail)


def _phrase(signal: Signal) -> str:
    if signal.name == "empty":
        return "the answer is empty"
    if signal.name == "cut_off":
        reason = signal.note.removeprefix("finish reason: ")
        return CUT_OFF_REASONS.get(reason, "the answer was cut off")
    if signal.name == "repetition":
        return f"the answer repeats itself ({signal.value:.0%} of its end is a loop)"
    if signal.name == "first_token_margin":
        return (f"the model hesitated over its first word (margin {signal.value:.2f} < "
                f"{signal.threshold:.2f})")
    label = "10th-percentile" if signal.name == "logprob_p10" else "mean"
    return (f"the model was unsure of its words ({label} token log-probability "
            f"{signal.value:.2f} < {signal.threshold:.2f})")
