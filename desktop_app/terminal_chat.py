"""``scalpel chat``: stream an answer to stdout, or chat turn by turn (REPL)."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from dataclasses import replace
from typing import TextIO

from .core.engine import GenerationParams, LlamaEngine, Message, ReplyFinished, TextDelta
from .core.errors import ScalpelError
from .core.models import ModelRef
from .core.presets import Preset
from .core.services import Services
from .core.task_models import choose_model_for


def run_chat(args: argparse.Namespace, services: Services, *, model: str | None) -> int:
    from .cli import EXIT_INTERRUPTED, EXIT_OK, UsageError

    if args.prompt is not None and not args.prompt.strip():
        raise UsageError("the prompt is empty")
    problem = _number_problem(args)
    if problem:
        raise UsageError(problem)
    preset = services.presets.find(args.preset) if args.preset else None
    ref = _choose_model(services, model, preset)
    options = services.load_options(ref, preset)
    if args.threads:
        options = replace(options, n_threads=args.threads)
    if args.ctx:
        options = replace(options, n_ctx=args.ctx)
    engine = services.new_engine()
    engine.load(ref.path, options, name=ref.name)
    params = _params_from(args, services, preset)
    system = args.system if args.system is not None else (preset.system_prompt if preset else "")
    history: list[Message] = [{"role": "system", "content": system}] if system else []
    wrap = preset.user_content if preset else (lambda text: text)
    try:
        if args.prompt is not None:
            history.append({"role": "user", "content": wrap(args.prompt)})
            finished = _stream_answer(engine, history, params, sys.stdout)
            if args.json:
                print(json.dumps({"reason": finished.reason, "model": ref.id,
                                  "preset": preset.id if preset else None,
                                  **finished.stats.to_dict()}))
            return EXIT_OK
        return _repl(engine, history, params, wrap=wrap, as_json=args.json)
    except KeyboardInterrupt:
        engine.cancel()
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        engine.unload()


# The ranges the settings allow (settings.Settings.validate); beyond them llama.cpp fails
# in its own words, or crashes (more threads than GGML_MAX_N_THREADS).
_RANGES = (("threads", "--threads", 1, 512), ("ctx", "--ctx", 128, 1_048_576),
           ("max_tokens", "--max-tokens", 1, None), ("temperature", "--temperature", 0.0, 5.0))


def _number_problem(args: argparse.Namespace) -> str | None:
    for name, flag, low, high in _RANGES:
        value = getattr(args, name, None)
        if value is None:
            continue
        if not math.isfinite(value) or value < low or (high is not None and value > high):
            limit = f"at least {low}" if high is None else f"between {low} and {high}"
            return f"{flag} must be {limit}, not {value}"
    return None


def _choose_model(services: Services, model: str | None, preset: Preset | None) -> ModelRef:
    """--model if given, else the preset's installed choice, else the default model."""
    if model:
        return services.registry.resolve(model)
    ref = None
    if preset is not None:
        choice = choose_model_for(preset, services.usable_models(), services.catalog)
        ref = choice.ref or services.default_model()
        if choice.missing and ref is not None:
            print(f"scalpel: note: {preset.name} works best with {choice.missing.name}, which "
                  f"is not installed (scalpel models download {choice.missing.id}); "
                  f"answering with {ref.name}", file=sys.stderr)
    ref = ref or services.default_model()
    if ref is None:
        raise ScalpelError(services.no_model_reason())
    return ref


def _params_from(args: argparse.Namespace, services: Services,
                 preset: Preset | None) -> GenerationParams:
    """The preset's sampling (or the settings'), with any flags given on top."""
    settings = services.settings
    base = (preset.generation_params() if preset else
            GenerationParams(max_tokens=settings.max_tokens, temperature=settings.temperature))
    changes = {name: value for name, value in (("max_tokens", args.max_tokens),
                                                ("temperature", args.temperature),
                                                ("seed", args.seed)) if value is not None}
    return replace(base, **changes)


def _stream_answer(engine: LlamaEngine, history: list[Message], params: GenerationParams,
                   out: TextIO) -> ReplyFinished:
    finished: ReplyFinished | None = None
    with contextlib.closing(engine.generate(history, params)) as events:
        for event in events:
            if isinstance(event, TextDelta):
                out.write(event.text)
                out.flush()
            else:
                finished = event
    out.write("\n")
    out.flush()
    assert finished is not None
    return finished


def _read_line(prompt: str) -> str | None:
    """One line of input, decoded leniently (bad UTF-8 becomes U+FFFD)."""
    if sys.stdin.isatty():
        sys.stderr.write(prompt)
        sys.stderr.flush()
    raw = sys.stdin.buffer.readline()
    if not raw:
        return None
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


def _repl(engine: LlamaEngine, history: list[Message], params: GenerationParams,
          *, wrap, as_json: bool) -> int:
    if sys.stdin.isatty():
        print("Chatting offline. Empty line: skip. Ctrl+D: quit. Ctrl+C: stop an answer.",
              file=sys.stderr)
    while (line := _read_line("> ")) is not None:
        if not line.strip():
            continue
        history.append({"role": "user", "content": wrap(line)})
        try:
            finished = _stream_answer(engine, history, params, sys.stdout)
        except KeyboardInterrupt:
            engine.cancel()
            history.pop()
            print("\n[stopped]", file=sys.stderr)
            continue
        except ScalpelError as exc:
            history.pop()
            print(f"scalpel: {exc}", file=sys.stderr)
            continue
        history.append({"role": "assistant", "content": finished.text})
        if as_json:
            print(json.dumps({"reason": finished.reason, **finished.stats.to_dict()}))
    return 0
