"""The ``scalpel`` command. Qt is imported only when the GUI is started.

Exit codes: 0 ok, 1 failure (one line on stderr), 2 usage error,
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Sequence

from . import __version__
from .core.errors import ScalpelError
from .core.paths import Paths
from .core.services import Services, build_services
from .model_commands import add_model_commands, run_models_command
from .policy_commands import add_policy_commands, run_policy_command
from .preset_commands import add_preset_commands, run_presets_command

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad arguments: reported like argparse does, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scalpel", description="Scalpel: a private assistant that runs small models locally.")
    parser.add_argument("--version", action="version", version=f"scalpel {__version__}")
    parser.add_argument("--model", metavar="ID|PATH", help="model id or GGUF file to load")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    chat = commands.add_parser("chat", help="answer a prompt in the terminal (a REPL without one)")
    chat.add_argument("prompt", nargs="?", help="the prompt; omit it for an interactive chat")
    chat.add_argument("--model", dest="chat_model", metavar="ID|PATH", help="model id or GGUF file")
    chat.add_argument("--preset", metavar="ID|NAME",
                      help="task preset: its system prompt, template, sampling and model")
    chat.add_argument("--system", help="system prompt (replaces the preset's)")
    chat.add_argument("--max-tokens", type=int, help="longest answer, in tokens")
    chat.add_argument("--temperature", type=float, help="0 for greedy (repeatable) answers")
    chat.add_argument("--seed", type=int, help="sampling seed")
    chat.add_argument("--threads", type=int, help="CPU threads (default: chosen for this machine)")
    chat.add_argument("--ctx", type=int, help="context size in tokens")
    chat.add_argument("--json", action="store_true", help="print the reply's stats as JSON at the end")

    models = commands.add_parser("models", help="list, download, import, remove, verify models")
    add_model_commands(models)

    presets = commands.add_parser("presets", help="list the task presets or show one")
    add_preset_commands(presets)

    policy = commands.add_parser("policy", help="the organization's policy: show it, check a file")
    add_policy_commands(policy)

    doctor = commands.add_parser("doctor", help="versions, paths, threads, GPU support, models")
    doctor.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        services = build_services(Paths.from_environment())
        return _dispatch(args, services, parser)
    except UsageError as exc:
        parser.exit(EXIT_USAGE, f"scalpel: error: {exc}\n")
    except ScalpelError as exc:
        print(f"scalpel: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _dispatch(args: argparse.Namespace, services: Services,
              parser: argparse.ArgumentParser) -> int:
    if args.command == "chat":
        from .terminal_chat import run_chat

        return run_chat(args, services, model=args.chat_model or args.model)
    if args.command == "models":
        return run_models_command(args, services)
    if args.command == "presets":
        return run_presets_command(args, services)
    if args.command == "policy":
        return run_policy_command(args, services)
    if args.command == "doctor":
        from .doctor import collect_report, format_report

        report = collect_report(services)
        print(json.dumps(report, indent=2) if args.json else format_report(report))
        return EXIT_OK
    return _start_gui(services, model=args.model)


def _start_gui(services: Services, *, model: str | None) -> int:
    initial = services.registry.resolve(model) if model else None  # fail fast on a bad id
    try:
        from .app import run_gui
    except ImportError as exc:
        raise ScalpelError(f"the window cannot start because Qt is missing ({exc}); "
                           "reinstall Scalpel") from exc
    return run_gui(services, initial_model=initial)
