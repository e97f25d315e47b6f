"""Step 3, the loaded chat model chooses among the labels under a grammar.

``choice_messages`` builds the prompt: a fixed system message listing each candidate's
label and description (identical from one message to the next, so the engine keeps it
in its KV cache and reads only the request), then the request, cut to its start and end.
``choice_grammar`` is GBNF that lets the model write only one of the labels, so the
answer is a label whatever the model is. ``ModelStep`` runs it on any engine of the
contract (core/engine/contract.py): greedy, a few tokens. The contract gives no token
probabilities yet, so the step's confidence is a fixed prior (``MODEL_CONFIDENCE``),
raised by the router when an earlier step's guess agrees.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from ..engine.types import GenerationParams, Message
from ..errors import ScalpelError
from .decision import Proposal, RouteCandidate

if TYPE_CHECKING:
    from ..engine.contract import Engine

log = logging.getLogger(__name__)

MODEL_CONFIDENCE = 0.5
REQUEST_WORDS = 60    # the request's first words the model reads (and its last 20)


def choice_messages(candidates: list[RouteCandidate], text: str) -> list[Message]:
    """System message, one worked example per candidate (its first example request), then
    the request. Everything before the request is the same for every message."""
    lines = [f"- {c.preset_id}: {c.description or c.name}" for c in candidates]
    system = ("You sort a user's request into exactly one task. The tasks:\n"
              + "\n".join(lines)
              + "\nReply with the task's label only.")
    messages: list[Message] = [{"role": "system", "content": system}]
    for c in candidates:
        if c.routing.examples:
            messages += [{"role": "user", "content": _request(c.routing.examples[0])},
                         {"role": "assistant", "content": c.preset_id}]
    return [*messages, {"role": "user", "content": _request(_cut(text))}]


def _request(text: str) -> str:
    return "Request: " + text.strip() + "\nTask:"


def choice_grammar(candidates: list[RouteCandidate]) -> str:
    """GBNF accepting exactly one candidate's label."""
    labels = " | ".join('"' + c.preset_id.replace('"', "") + '"' for c in candidates)
    return f"root ::= {labels}\n"


def choice_params(candidates: list[RouteCandidate]) -> GenerationParams:
    longest = max((len(c.preset_id) for c in candidates), default=8)
    return GenerationParams(max_tokens=min(32, longest + 2), temperature=0.0,
                            repeat_penalty=1.0, seed=0, grammar=choice_grammar(candidates))


def _cut(text: str) -> str:
    tokens = text.split()
    if len(tokens) <= REQUEST_WORDS + 20:
        return text.strip()
    return " ".join(tokens[:REQUEST_WORDS]) + " … " + " ".join(tokens[-20:])


class ModelStep:
    """``grammar_first=False`` (the default) first asks for a few tokens without the grammar
    (llama.cpp applies a grammar to the whole vocabulary, which cost ~200 ms per answer on
    SmolLM2 here) and keeps the answer when it is a label; otherwise it asks again under
    the grammar, so the answer is always one of the labels."""

    name = "model"

    def __init__(self, candidates: list[RouteCandidate], engine: "Engine", *,
                 grammar_first: bool = False) -> None:
        self.candidates = candidates
        self.engine = engine
        self.grammar_first = grammar_first
        self._params = choice_params(candidates)
        self._free = replace(self._params, grammar=None, max_tokens=4)
        self._names = {c.preset_id: c.name for c in candidates}

    def propose(self, text: str) -> tuple[Proposal | None, bool]:
        """The model's label (it always decides when it answers with one); None when the
        engine fails, so routing never stops a message."""
        if not self.candidates:
            return None, False
        messages = choice_messages(self.candidates, text)
        try:
            label = None if self.grammar_first else _label_in(self._ask(messages, self._free),
                                                               self._names)
            if label is None:
                label = self._ask(messages, self._params).strip()
        except ScalpelError as exc:
            log.warning("the model could not choose a task: %s", exc)
            return None, False
        if label not in self._names:
            log.warning("the model answered %r, which is not a task label", label[:40])
            return None, False
        return Proposal(label, MODEL_CONFIDENCE, "chosen by the chat model"), True

    def _ask(self, messages: list[Message], params: GenerationParams) -> str:
        with self.engine.generate(messages, params) as handle:
            return handle.result().text


def _label_in(answer: str, labels: dict[str, str]) -> str | None:
    """The label an unconstrained answer starts with, if any ("code", "Code.", "json\n")."""
    first = answer.strip().lower().split(maxsplit=1)
    word = first[0].strip(".:,;!\"'`*") if first else ""
    return word if word in labels else None
