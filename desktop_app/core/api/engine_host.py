"""The one engine the API shares, and which model answers each request.

Two hosts, one rule set:
- ``scalpel serve`` owns its engine (``owns_engine=True``): a request that names an
  installed model, or a preset whose preferred model is installed, loads it (one
  request at a time; a kept model is instant), after the requests before it.
- In the window, the API uses the window's engine and the model the window has
  loaded; it never loads or switches models behind the person's back. A request that
  names another installed model gets 409 with a sentence saying which model is loaded;
  presets there apply their prompt, template and sampling to the loaded model.

Requests run one at a time (``lock``), behind any answer the window is writing: the
engine serializes them, so a second copy of a model is never loaded.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.types import GenerationParams, Message
from ..models import ModelRef
from ..presets import Preset
from ..task_models import choose_model_for
from .errors import ApiError

if TYPE_CHECKING:
    from ..engine.contract import Engine
    from ..services import Services


@dataclass(frozen=True)
class Target:
    """What one request runs on: a preset (or none) and a model (None: the loaded one)."""
    name: str
    preset: Preset | None = None
    ref: ModelRef | None = None


class EngineHost:
    def __init__(self, services: "Services", engine: "Engine", *, owns_engine: bool) -> None:
        self.services = services
        self.engine = engine
        self.owns_engine = owns_engine
        self.lock = threading.Lock()  # one API request (its model choice and answer) at a time

    # -- what is offered ----------------------------------------------------------
    def loaded_ref(self) -> ModelRef | None:
        info = self.engine.model_info
        return self.services.models.find(info.path) if info else None

    def list_models(self) -> list[dict[str, Any]]:
        loaded = self.engine.model_info
        embedding = self.services.embedding_model()
        refs = self.services.usable_models()
        if embedding is not None and embedding not in refs:
            refs = [*refs, embedding]  # set by path in the settings, listed nowhere else
        data = []
        for ref in refs:
            data.append({"id": ref.id, "object": "model", "created": _created(ref.path),
                         "owned_by": "scalpel",
                         "scalpel": {"kind": "model", "name": ref.name, "source": ref.source,
                                     "loaded": bool(loaded and loaded.path == str(ref.path)),
                                     "embeddings": ref == embedding}})
        for preset in self.services.presets.list():
            data.append({"id": preset.id, "object": "model", "created": 0,
                         "owned_by": "scalpel-preset",
                         "scalpel": {"kind": "preset", "name": preset.name,
                                     "description": preset.description}})
        return data

    def resolve(self, name: str) -> Target:
        """The model or preset a request names (empty: the loaded or default model)."""
        if not name:
            return Target(name="")
        for ref in self.services.usable_models():
            if name == ref.id:
                return Target(name=ref.id, ref=ref)
        preset = self.services.presets.get(name)
        if preset is not None:
            return Target(name=preset.id, preset=preset)
        raise ApiError(404, f"There is no model or preset called {name!r} here; "
                       "GET /v1/models lists the installed models and the presets.",
                       "model", "model_not_found")

    # -- on the request's worker thread, holding ``lock`` ------------------------------
    def prepare(self, target: Target) -> str:
        """Make sure the right model is loaded; the model id to report."""
        loaded = self.engine.model_info
        wanted = target.ref
        if wanted is None and target.preset is not None and self.owns_engine:
            wanted = choose_model_for(target.preset, self.services.usable_models(),
                                      self.services.catalog).ref
        if wanted is None and loaded is None and self.owns_engine:
            wanted = self.services.default_model()
            if wanted is None:
                raise ApiError(503, _sentence(self.services.no_model_reason()), "model",
                               "model_not_loaded")
        if wanted is not None and (loaded is None or loaded.path != str(wanted.path)):
            if not self.owns_engine:
                have = f"{loaded.name} is loaded" if loaded else "no model is loaded"
                raise ApiError(409, f"The Scalpel window is using this engine and {have}; "
                               f"the API answers with the window's model. Choose "
                               f"{wanted.name} in the window, or ask for "
                               f"{self._loaded_id() or 'the loaded model'}.",
                               "model", "model_not_loaded")
            self.engine.load(wanted.path, self.services.load_options(wanted, target.preset),
                             name=wanted.name)
        if self.engine.model_info is None:
            raise ApiError(503, "No model is loaded in the Scalpel window; choose one there "
                           "and try again.", "model", "model_not_loaded")
        return target.name if target.preset else (self._loaded_id() or target.name)

    def _loaded_id(self) -> str | None:
        ref = self.loaded_ref()
        if ref is not None:
            return ref.id
        info = self.engine.model_info
        return Path(info.path).stem if info else None

    # -- the request in the engine's terms --------------------------------------------
    def request(self, target: Target, messages: tuple[Message, ...]
                ) -> tuple[list[Message], GenerationParams]:
        """The messages and base sampling: a preset's system prompt, input template and
        sampling, else the settings' defaults."""
        preset = target.preset
        if preset is None:
            return [dict(m) for m in messages], self.services.default_generation_params()
        own_system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        system = "\n\n".join(p for p in (preset.system_prompt, own_system) if p)
        history = [{"role": m["role"], "content": preset.user_content(m["content"])
                    if m["role"] == "user" else m["content"]}
                   for m in messages if m["role"] != "system"]
        head = [{"role": "system", "content": system}] if system else []
        return [*head, *history], preset.generation_params()


def _created(path: Path) -> int:
    try:
        return int(path.stat().st_mtime)
    except OSError:
        return int(time.time())


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
