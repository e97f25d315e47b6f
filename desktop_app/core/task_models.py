"""Which model answers for a task: the preset's preferred models against what is installed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .catalog import Catalog, CatalogEntry
from .models import ModelRef
from .presets import Preset


@dataclass(frozen=True)
class ModelChoice:
    ref: ModelRef | None            # the model to answer with; None: keep the current one
    missing: CatalogEntry | None    # the preset's first choice, not installed: offer it
    installed_preferred: bool       # ``ref`` is one of the preset's preferred models


def choose_model_for(preset: Preset, installed: list[ModelRef],
                     catalog: Catalog) -> ModelChoice:
    """The first installed model the preset prefers, and its first choice if not installed.

    A preferred entry is a catalog id, a model id, or a path to a GGUF file.
    """
    preferred = preset.preferred_models
    found = [ref for wanted in preferred if (ref := _installed(wanted, installed))]
    best = preferred[0] if preferred else None
    missing = None
    if best is not None and _installed(best, installed) is None:
        missing = catalog.get(best)
    return ModelChoice(ref=found[0] if found else None, missing=missing,
                       installed_preferred=bool(found))


def _installed(wanted: str, installed: list[ModelRef]) -> ModelRef | None:
    for ref in installed:
        if ref.id == wanted:
            return ref
    if "/" in wanted or "\\" in wanted or wanted.lower().endswith(".gguf"):
        target = Path(wanted).expanduser()
        for ref in installed:
            if target.is_file() and ref.path.resolve() == target.resolve():
                return ref
        if target.is_file():
            from .models import display_name_for, model_id_for

            return ModelRef(model_id_for(target), display_name_for(target), target, "opened")
    return None
