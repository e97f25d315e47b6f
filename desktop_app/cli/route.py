"""``scalpel route "text" [--json] [--model-step]``: which task Auto would give a message,
without answering it (core/routing)."""

from __future__ import annotations

import argparse
import json
import sys

from ..core.errors import ExitCode, ScalpelError, UsageError
from ..core.routing import Router
from ..core.services import Services


def add_route_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="?", help="the message to route ('-' or none: stdin)")
    parser.add_argument("--json", action="store_true", help="the decision as JSON")
    parser.add_argument("--model-step", action="store_true",
                        help="when the cheap steps are unsure, let the default model choose "
                             "(loads it in the engine process)")


def run_route(args: argparse.Namespace, services: Services, *, model: str | None = None) -> int:
    text = args.text if args.text not in (None, "-") else sys.stdin.read()
    if not text.strip():
        raise UsageError("give the message to route, e.g. scalpel route \"translate to German: hi\"")
    presets = services.presets.list()
    engine = _load_engine(services, model) if args.model_step else None
    try:
        router = Router(presets, engine=engine)
        decision = router.route(text)
    finally:
        if engine is not None:
            engine.unload()
    preset = services.presets.get(decision.preset_id)
    name = preset.name if preset else decision.preset_id
    if args.json:
        print(json.dumps({**decision.to_dict(), "preset_name": name,
                          "candidates": [c.preset_id for c in router.candidates],
                          "examples_step": router.embedder_name,
                          "model_step": engine is not None}, indent=2, ensure_ascii=False))
    else:
        print(f"{name} ({decision.preset_id}) · {decision.step} · confidence "
              f"{decision.confidence:.2f} · {decision.reason}")
    return ExitCode.OK


def _load_engine(services: Services, model: str | None):
    ref = services.registry.resolve(model) if model else services.default_model()
    if ref is None:
        raise ScalpelError(services.no_model_reason())
    engine = services.new_engine_process()
    try:
        engine.load(ref.path, services.load_options(ref), name=ref.name)
    except BaseException:
        engine.unload()
        raise
    return engine
