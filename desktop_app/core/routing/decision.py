"""What routing decides, and what it chooses among: plain data, no Qt, no engine.

``RouteDecision`` is the answer to "which task should answer this message?": the preset,
the step that decided (``signals``, ``examples``, ``model`` or ``default``), how sure it
is (0..1) and a short reason a person can read ("a code block in the message").
``RouteCandidate`` is one preset that takes part in Auto: its id, name, description and
``Routing`` (examples, hints, signals), taken from the preset's own JSON, so user and IT
presets take part without code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from ..presets import Preset, Routing

STEPS = ("signals", "examples", "model", "default")
DEFAULT_PRESET = "general"

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|\+\+|#", re.UNICODE)


@dataclass(frozen=True)
class RouteDecision:
    preset_id: str
    step: str            # one of STEPS
    confidence: float    # 0..1
    reason: str          # a short phrase for people
    elapsed_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.step not in STEPS:
            raise ValueError(f"unknown routing step {self.step!r}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be within 0..1, not {self.confidence}")

    def to_dict(self) -> dict[str, Any]:
        return {"preset_id": self.preset_id, "step": self.step,
                "confidence": round(self.confidence, 3), "reason": self.reason,
                "elapsed_ms": round(self.elapsed_ms, 3)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RouteDecision":
        return cls(preset_id=str(data["preset_id"]), step=str(data["step"]),
                   confidence=float(data["confidence"]), reason=str(data.get("reason", "")),
                   elapsed_ms=float(data.get("elapsed_ms", 0.0)))


@dataclass(frozen=True)
class Proposal:
    """A step's best guess: the router keeps it when ``confidence`` reaches the step's bar
    (or when no later step can do better) and otherwise moves on."""
    preset_id: str
    confidence: float
    reason: str


@dataclass(frozen=True)
class RouteCandidate:
    preset_id: str
    name: str
    description: str
    routing: Routing

    @classmethod
    def from_preset(cls, preset: Preset) -> "RouteCandidate | None":
        if preset.routing is None or not preset.routing.opt_in:
            return None
        return cls(preset.id, preset.name, preset.description, preset.routing)


def candidates_from(presets: Iterable[Preset]) -> list[RouteCandidate]:
    """The presets Auto may choose: those whose JSON has a ``routing`` object that opts in."""
    found = (RouteCandidate.from_preset(p) for p in presets)
    return [c for c in found if c is not None]


def words(text: str) -> list[str]:
    """Lower-case words (letters and digits in any script; ``c++`` and ``c#`` kept)."""
    return _WORD.findall(text.lower())


def clamp(value: float) -> float:
    return max(0.0, min(1.0, value))
