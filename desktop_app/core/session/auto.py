"""Auto: the task chosen per message, and the record of where each answer went.

When the chat's task is Auto (the built-in preset ``auto``), the session asks
``AutoTask.choose`` on its worker thread, before the answer starts: the router
(core/routing) picks the preset from the message, and the preset's preferred
installed model is the one to answer with (``task_models.choose_model_for``; the
current model when none of them is installed). ``Routed`` is what the answer
keeps of that: the task, the model, the step that decided, how sure it was and a
reason a person can read. It is saved in the answer's stats (``stats["routed"]``)
and drawn as one line above the answer:
"Code assistant · Qwen2.5 Coder 1.5B · a code block in the message".

The router's model step (the chat model picking a label under a grammar) is off
here: on SmolLM2 it was right 59.5 % of the time at ~390 ms a message, against
95.9 % in well under a millisecond for the cheap steps on the labelled set
(tests/data/routing_requests.jsonl, benchmarks/bench_routing.py); ``scalpel route
--model-step`` still tries it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable

from ..engine.types import LoadOptions
from ..presets import Preset
from ..routing import RouteDecision

log = logging.getLogger(__name__)

AUTO_PRESET_ID = "auto"
CHOSEN_BY_PERSON = "chosen by you"


@dataclass(frozen=True)
class ModelTarget:
    """A model to answer with: what ``Engine.load`` needs."""
    path: str
    options: LoadOptions
    name: str


@dataclass(frozen=True)
class Routed:
    """Where one answer went and why (saved as ``stats["routed"]``)."""
    preset_id: str
    preset_name: str
    model: str                     # the model's display name
    where: str = "local"           # "local" or "remote"
    step: str = "person"           # a routing step, "person" (Answer as…) or "escalation"
    confidence: float = 1.0
    reason: str = CHOSEN_BY_PERSON
    elapsed_ms: float = 0.0
    escalation_reason: str | None = None

    def line(self) -> str:
        """The line above the answer."""
        where = " (the organization's model)" if self.where == "remote" else ""
        return f"{self.preset_name} · {self.model}{where} · {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "Routed | None":
        """None for anything that is not a routing record (old or damaged stats)."""
        if not isinstance(data, dict):
            return None
        names = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except TypeError:
            return None


class AutoTask:
    """What a session needs of Auto: a route for a message and a model for a preset.

    ``route(text)`` is the router's decision; ``preset_for(id)`` a preset by id;
    ``model_for(preset)`` the model to answer with (None: keep the current one).
    Services builds one from the presets, the router and the installed models
    (``Services.auto_task``); tests give their own callables.
    """

    def __init__(self, *, route: Callable[[str], RouteDecision],
                 preset_for: Callable[[str], Preset | None],
                 model_for: Callable[[Preset], ModelTarget | None]) -> None:
        self._route = route
        self._preset_for = preset_for
        self._model_for = model_for

    def choose(self, text: str) -> tuple[Preset | None, RouteDecision]:
        """The preset for ``text`` (None: the router named a preset that is gone)."""
        decision = self._route(text)
        return self._preset_for(decision.preset_id), decision

    def preset(self, preset_id: str) -> Preset | None:
        return self._preset_for(preset_id)

    def model_for(self, preset: Preset) -> ModelTarget | None:
        try:
            return self._model_for(preset)
        except Exception:  # noqa: BLE001 - a model listing problem answers with the current one
            log.exception("no model could be chosen for %s", preset.id)
            return None


def is_auto(preset: Preset | None) -> bool:
    return preset is not None and preset.id == AUTO_PRESET_ID


def auto_task_from(services, engine=None) -> AutoTask:
    """Auto over a process's Services: the presets that opt in, the cheap routing steps
    (the examples compared through the installed embedding model on ``engine``, if there
    is one, else lexically), and each preset's preferred installed model."""
    from ..routing import Router
    from ..task_models import choose_model_for

    cache: dict[str, Any] = {}

    def route(text: str) -> RouteDecision:
        presets = services.presets.list()
        key = tuple((p.id, id(p)) for p in presets)
        if cache.get("key") != key:   # presets saved or reloaded: a new router
            cache["key"], cache["router"] = key, _router(presets)
        return cache["router"].route(text, use_model=False)

    def _router(presets) -> Router:
        embedder = _embedder(services, engine)
        if embedder is not None:
            try:
                return Router(presets, embedder=embedder)
            except Exception as exc:  # noqa: BLE001 - a broken embedding model: lexical
                log.warning("routing without the embedding model (%s)", exc)
        return Router(presets)

    def model_for(preset: Preset) -> ModelTarget | None:
        choice = choose_model_for(preset, services.usable_models(), services.catalog)
        if choice.ref is None:
            return None
        return ModelTarget(str(choice.ref.path), services.load_options(choice.ref, preset),
                           choice.ref.name)

    return AutoTask(route=route, preset_for=services.presets.get, model_for=model_for)


def _embedder(services, engine):
    """The installed embedding model as the examples step's embedder (None: lexical)."""
    if engine is None:
        return None
    from ..routing.examples import EngineEmbedder

    ref = services.embedding_model()
    if ref is None:
        return None
    entry = services.catalog.get(ref.id)
    return EngineEmbedder(engine, str(ref.path), name=ref.name,
                          query_prefix=getattr(entry, "query_prefix", None) or "",
                          document_prefix=getattr(entry, "document_prefix", None) or "")
