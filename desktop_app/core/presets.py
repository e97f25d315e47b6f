"""Task presets: the system prompt, input template, sampling and model a task brings.

A preset is a small readable JSON file. Built-ins ship in ``resources/presets/``;
people and IT add their own in the config directory (see ``preset_store``).
``preset_from_dict`` validates one file's content and names the field at fault;
``Preset`` turns a person's text into the messages and ``GenerationParams``
the engine receives, including a JSON schema for the output (checked here in
Python, turned into a llama.cpp grammar by the engine).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .engine.types import GenerationParams, Message
from .errors import PresetError
from .schema_check import schema_problem

PRESET_FORMAT = 1
INPUT_PLACEHOLDER = "{input}"
ICONS = ("chat", "code", "summarize", "translate", "email", "json", "brainstorm", "custom")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
# Structural signals a preset may claim in ``routing.signals`` (core/routing/signals.py
# detects them); anything else in a preset's routing is plain data: examples and hints.
ROUTING_SIGNALS = ("code_block", "traceback", "translate_into", "long_text", "json_request")
ESCALATE = ("always", "never")   # a preset's "escalate": core/escalation


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    seed: int | None = None

    _LIMITS = {"temperature": (0.0, 5.0), "top_p": (0.0, 1.0), "top_k": (0, 1000),
               "min_p": (0.0, 1.0), "repeat_penalty": (0.5, 3.0)}


@dataclass(frozen=True)
class Routing:
    """What Auto routes on for a preset: example requests (compared with a message),
    hints (words and phrases that point here), the structural signals it claims, and
    whether it takes part at all (a preset without a ``routing`` object does not)."""
    examples: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()
    opt_in: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"examples": list(self.examples), "hints": list(self.hints),
                "signals": list(self.signals), "opt_in": self.opt_in}

    @classmethod
    def from_dict(cls, data: Any, *, file: str = "routing") -> "Routing":
        routing = _routing(_Reader({"routing": data}, file))
        if routing is None:
            raise PresetError("is missing", file=file, field="routing")
        return routing


@dataclass(frozen=True)
class Preset:
    id: str
    name: str
    description: str = ""
    icon: str = "custom"
    system_prompt: str = ""
    input_template: str | None = None
    sampling: Sampling = field(default_factory=Sampling)
    max_tokens: int = 1024
    context_size: int | None = None       # None: the app's setting
    preferred_models: tuple[str, ...] = ()  # catalog ids (or model ids / paths), best first
    json_schema: dict[str, Any] | None = field(default=None, hash=False)
    routing: Routing | None = None        # None: Auto never picks this preset
    escalate: str | None = None           # "always" | "never" to the bigger model; None: signals
    # Answers that copy the input (summaries, extraction, code edits) decode faster with
    # drafts looked up in the conversation (engine/prompt_lookup.py); same tokens.
    prompt_lookup: bool = False
    builtin: bool = False
    path: Path | None = None              # the file it came from

    # -- what a preset sends ----------------------------------------------------
    def user_content(self, text: str) -> str:
        """The person's text placed in the input template (literal replace: braces are safe)."""
        if not self.input_template:
            return text
        return self.input_template.replace(INPUT_PLACEHOLDER, text)

    def messages(self, history: list[Message]) -> list[Message]:
        """The system prompt (if any) followed by the chat history."""
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return [*system, *history]

    def generation_params(self) -> GenerationParams:
        s = self.sampling
        return GenerationParams(max_tokens=self.max_tokens, temperature=s.temperature,
                                top_p=s.top_p, top_k=s.top_k, min_p=s.min_p,
                                repeat_penalty=s.repeat_penalty, seed=s.seed,
                                prompt_lookup=self.prompt_lookup,
                                json_schema=(json.dumps(self.json_schema)
                                             if self.json_schema is not None else None))

    # -- files --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        s = self.sampling
        return {
            "format": PRESET_FORMAT, "id": self.id, "name": self.name,
            "description": self.description, "icon": self.icon,
            "system_prompt": self.system_prompt, "input_template": self.input_template,
            "sampling": {"temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k,
                         "min_p": s.min_p, "repeat_penalty": s.repeat_penalty, "seed": s.seed},
            "max_tokens": self.max_tokens, "context_size": self.context_size,
            "preferred_models": list(self.preferred_models),
            "output": {"json_schema": self.json_schema} if self.json_schema is not None else None,
            "routing": self.routing.to_dict() if self.routing is not None else None,
            "escalate": self.escalate,
            "prompt_lookup": self.prompt_lookup,
        }

    def with_changes(self, **changes: Any) -> "Preset":
        return replace(self, **changes)


def preset_from_dict(data: Any, *, file: str, builtin: bool = False,
                     path: Path | None = None) -> Preset:
    """Validate one preset file's content. Raises PresetError naming ``file`` and the field."""
    reader = _Reader(data, file)
    if reader.optional("format", int, PRESET_FORMAT) > PRESET_FORMAT:
        raise PresetError("this preset was written by a newer Scalpel", file=file, field="format")
    preset_id = reader.required("id", str)
    if not _ID.match(preset_id):
        raise PresetError("must be lowercase letters, digits and dashes (at most 64)",
                          file=file, field="id")
    template = reader.optional("input_template", str, None) or None
    if template is not None and INPUT_PLACEHOLDER not in template:
        raise PresetError(f"must contain {INPUT_PLACEHOLDER} where the person's text goes",
                          file=file, field="input_template")
    icon = reader.optional("icon", str, "custom")
    return Preset(
        id=preset_id, name=reader.required("name", str).strip() or preset_id,
        description=reader.optional("description", str, ""),
        icon=icon if icon in ICONS else "custom",
        system_prompt=reader.optional("system_prompt", str, ""),
        input_template=template, sampling=_sampling(reader),
        max_tokens=reader.bounded("max_tokens", int, 1024, 1, 131_072),
        context_size=reader.bounded("context_size", int, None, 128, 1_048_576),
        preferred_models=tuple(reader.string_list("preferred_models")),
        json_schema=_json_schema(reader), routing=_routing(reader), builtin=builtin,
        path=path, escalate=_escalate(reader),
        prompt_lookup=reader.optional("prompt_lookup", bool, False))


def _escalate(reader: "_Reader") -> str | None:
    """Whether the task's requests go to the bigger model (core/escalation) regardless of
    the answer's signals ("always") or never ("never"); absent: the signals decide."""
    value = reader.optional("escalate", str, None)
    if value not in (None, *ESCALATE):
        raise reader._fail("escalate", f"must be \"always\" or \"never\", not "
                                       f"{json.dumps(value)[:40]}")
    return value


def _sampling(reader: "_Reader") -> Sampling:
    sub = reader.section("sampling")
    values: dict[str, Any] = {}
    for name, (low, high) in Sampling._LIMITS.items():
        kind = int if name == "top_k" else float
        values[name] = sub.bounded(name, kind, getattr(Sampling, name), low, high)
    values["seed"] = sub.bounded("seed", int, None, 0, 2**32 - 2)
    return Sampling(**values)


def _json_schema(reader: "_Reader") -> dict[str, Any] | None:
    output = reader.section("output")
    schema = output.optional("json_schema", dict, None)
    if schema is not None and (problem := schema_problem(schema)) is not None:
        raise PresetError(f"the JSON schema cannot be enforced: {problem}",
                          file=reader.file, field="output.json_schema")
    if schema is not None and not schema:
        raise PresetError("is empty; remove it or describe the JSON wanted",
                          file=reader.file, field="output.json_schema")
    return schema


def _routing(reader: "_Reader") -> Routing | None:
    if reader.data.get("routing") is None:
        return None
    sub = reader.section("routing")
    texts = {}
    for name, most, longest in (("examples", 200, 2000), ("hints", 200, 100)):
        values = sub.optional(name, list, [])
        if not all(isinstance(v, str) and v.strip() for v in values):
            raise sub._fail(name, "must be a list of non-empty texts")
        if len(values) > most or any(len(v) > longest for v in values):
            raise sub._fail(name, f"must hold at most {most} texts of at most {longest} "
                                  "characters")
        texts[name] = tuple(v.strip() for v in values)
    signals = sub.optional("signals", list, [])
    unknown = [s for s in signals if s not in ROUTING_SIGNALS]
    if unknown:
        raise sub._fail("signals", f"{json.dumps(unknown[0])[:40]} is not a signal; use "
                                   + ", ".join(ROUTING_SIGNALS))
    return Routing(examples=texts["examples"], hints=texts["hints"],
                   signals=tuple(dict.fromkeys(signals)),
                   opt_in=sub.optional("opt_in", bool, True))


class _Reader:
    """Typed access to one JSON object, with errors that name file and field."""

    def __init__(self, data: Any, file: str, prefix: str = "") -> None:
        if not isinstance(data, dict):
            raise PresetError("must hold a JSON object", file=file, field=prefix or None)
        self.data, self.file, self.prefix = data, file, prefix

    def _fail(self, name: str, message: str) -> PresetError:
        return PresetError(message, file=self.file, field=self.prefix + name)

    def optional(self, name: str, kind: type, default: Any) -> Any:
        value = self.data.get(name)
        if value is None:
            return default
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise self._fail(name, f"must be {_KIND_NAMES.get(kind, kind.__name__)}, "
                                   f"not {json.dumps(value)[:40]}")
        return value

    def required(self, name: str, kind: type) -> Any:
        if self.data.get(name) is None:
            raise self._fail(name, "is missing")
        return self.optional(name, kind, None)

    def bounded(self, name: str, kind: type, default: Any, low: float, high: float) -> Any:
        value = self.optional(name, kind, default)
        if value is not None and not low <= value <= high:
            raise self._fail(name, f"must be between {low:g} and {high:g}, not {value:g}")
        return value

    def string_list(self, name: str) -> list[str]:
        values = self.optional(name, list, [])
        if not all(isinstance(v, str) and v.strip() for v in values):
            raise self._fail(name, "must be a list of model ids")
        return [v.strip() for v in values]

    def section(self, name: str) -> "_Reader":
        return _Reader(self.optional(name, dict, {}), self.file, f"{self.prefix}{name}.")


_KIND_NAMES = {str: "text", int: "a whole number", float: "a number", list: "a list",
               dict: "a JSON object", bool: "true or false"}
