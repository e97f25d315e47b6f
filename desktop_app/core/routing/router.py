"""Auto: the preset that should answer a message, chosen in steps of rising cost.

1. ``signals`` (signals.py): structure and the presets' hints; regular expressions.
2. ``examples`` (examples.py): similarity to the presets' example requests, through an
   ``Embedder`` (a lexical TF-IDF fallback until Engine.embed is wired in).
3. ``model`` (model_choice.py): the loaded chat model picks a label under a grammar;
   only when an engine is given.
4. ``default``: the default preset ("general"), when no step found anything.

Each step proposes its best guess and says whether it is clear enough to decide; the
first that decides wins. When none decides and no model is given, the strongest
guess still counts (with its low confidence) when it reaches ``weak_floor``; below
that the message goes to the default preset. The candidates are read from the presets'
JSON (``routing``), so a user's or IT's preset takes part when it opts in.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, Iterable

from ..presets import Preset
from .decision import DEFAULT_PRESET, Proposal, RouteDecision, candidates_from, clamp
from .examples import Embedder, ExampleStep
from .model_choice import ModelStep
from .signals import SignalStep

if TYPE_CHECKING:
    from ..engine.contract import Engine

AGREEMENT_BONUS = 0.25   # the model's confidence when an earlier step guessed the same


class Router:
    def __init__(self, presets: Iterable[Preset], *, embedder: Embedder | None = None,
                 engine: "Engine | None" = None, default_id: str = DEFAULT_PRESET,
                 weak_floor: float = 0.3,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        presets = list(presets)
        self.candidates = candidates_from(presets)
        ids = [c.preset_id for c in self.candidates]
        known = [p.id for p in presets]
        self.default_id = default_id if default_id in known else (ids or known or ["general"])[0]
        self.signals = SignalStep(self.candidates)
        self.examples = ExampleStep(self.candidates, embedder=embedder)
        self.model = ModelStep(self.candidates, engine) if engine is not None else None
        self.weak_floor = weak_floor
        self._clock = clock

    @property
    def embedder_name(self) -> str:
        return self.examples.embedder.name

    def route(self, text: str, *, use_model: bool = True,
              steps: tuple[str, ...] = ("signals", "examples", "model")) -> RouteDecision:
        """The decision for one message. ``steps`` limits the steps tried (measurements)."""
        start = self._clock()
        guesses: list[tuple[str, Proposal]] = []
        if text.strip() and self.candidates:
            for name, step in (("signals", self.signals), ("examples", self.examples),
                               ("model", self.model if use_model else None)):
                if step is None or name not in steps:
                    continue
                proposal, decides = step.propose(text)
                if proposal is None:
                    continue
                if decides:
                    if name == "model" and any(p.preset_id == proposal.preset_id
                                               for _, p in guesses):
                        proposal = Proposal(proposal.preset_id,
                                            clamp(proposal.confidence + AGREEMENT_BONUS),
                                            "chosen by the chat model, matching "
                                            + guesses[0][1].reason)
                    return self._decision(name, proposal, start)
                guesses.append((name, proposal))
            weak = max(guesses, key=lambda g: g[1].confidence, default=None)
            if weak is not None and weak[1].confidence >= self.weak_floor:
                return self._decision(weak[0], weak[1], start)
        return self._decision("default", Proposal(self.default_id, 0.3 if text.strip() else 0.0,
                                                  "no clear sign of a task"), start)

    def _decision(self, step: str, proposal: Proposal, start: float) -> RouteDecision:
        return RouteDecision(preset_id=proposal.preset_id, step=step,
                             confidence=clamp(proposal.confidence), reason=proposal.reason,
                             elapsed_ms=(self._clock() - start) * 1000.0)
