"""``scalpel presets list|show``: the task presets and what each one sends."""

from __future__ import annotations

import argparse
import json
import sys

from ..core.engine.grammar import grammar_for
from ..core.errors import ExitCode
from ..core.presets import Preset
from ..core.resources import resource_path
from ..core.services import Services
from ..core.task_models import choose_model_for


def add_preset_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="presets_command", metavar="ACTION", required=True)
    listing = commands.add_parser("list", help="the presets, built-in and your own")
    listing.add_argument("--json", action="store_true")
    show = commands.add_parser("show", help="everything a preset sends to the model")
    show.add_argument("preset", metavar="ID|NAME")
    show.add_argument("--json", action="store_true")


def run_presets_command(args: argparse.Namespace, services: Services) -> int:
    store = services.presets
    if args.presets_command == "list":
        _print_list(services, as_json=args.json)
    else:
        preset = store.find(args.preset)
        print(json.dumps(_as_json(preset), indent=2) if args.json else _describe(preset, services))
    for problem in store.problems:
        print(f"scalpel: skipped a preset file: {problem}", file=sys.stderr)
    return ExitCode.OK


def _print_list(services: Services, *, as_json: bool) -> None:
    rows = []
    installed = services.registry.list()
    for preset in services.presets.list():
        choice = choose_model_for(preset, installed, services.catalog)
        rows.append({"id": preset.id, "name": preset.name,
                     "source": _source(preset),
                     "description": preset.description,
                     "model": choice.ref.id if choice.ref else None,
                     "json_output": preset.json_schema is not None})
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    width = max((len(r["id"]) for r in rows), default=2)
    for row in rows:
        model = row["model"] or "current model"
        print(f"{row['id']:<{width}}  {row['name']} — {row['description']} [{model}]")


def _source(preset: Preset) -> str:
    if preset.builtin and preset.path and preset.path.parent == resource_path("presets"):
        return "built-in"
    return f"read-only, shipped in {preset.path}" if preset.builtin else str(preset.path)


def _as_json(preset: Preset) -> dict:
    data = preset.to_dict()
    data["builtin"] = preset.builtin
    data["path"] = str(preset.path) if preset.path else None
    data["grammar"] = grammar_for(preset.generation_params())
    return data


def _describe(preset: Preset, services: Services) -> str:
    params = preset.generation_params()
    choice = choose_model_for(preset, services.usable_models(), services.catalog)
    lines = [
        f"{preset.name} ({preset.id}, {_source(preset)})",
        f"  {preset.description}",
        f"system prompt:  {preset.system_prompt or '(none)'}",
        f"input template: {preset.input_template!r}" if preset.input_template
        else "input template: (the text is sent as typed)",
        f"sampling:       temperature {params.temperature}, top_p {params.top_p}, "
        f"top_k {params.top_k}, min_p {params.min_p}, repeat penalty {params.repeat_penalty}, "
        f"seed {'random' if params.seed is None else params.seed}",
        f"max tokens:     {params.max_tokens}",
        f"context size:   {preset.context_size or 'the app setting'}",
        f"models:         {', '.join(preset.preferred_models) or '(any)'}"
        f" -> answering with {choice.ref.name if choice.ref else 'the current model'}",
    ]
    if choice.missing:
        lines.append(f"                best choice not installed: {choice.missing.name} "
                     f"(scalpel models download {choice.missing.id})")
    if preset.json_schema is not None:
        lines.append("output:         JSON matching the preset's schema (llama.cpp grammar, "
                     f"{len((grammar_for(params) or '').splitlines())} rules)")
    return "\n".join(lines)
