"""The ``scalpel`` parser and its dispatch to the command groups. Qt is imported only
when the window is started.

Every expected failure ends in one line on stderr, ``scalpel: <what to do>``, and an
exit code from :class:`~desktop_app.core.errors.ExitCode`: 0 ok, 1 failure, 2 usage
error, 130 interrupted. Library log records go to ``scalpel.log`` (``terminal_log``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from .. import __version__
from ..core.errors import ExitCode, InsufficientMemoryError, ScalpelError, UsageError
from ..core.paths import Paths
from ..core.services import Services, build_services
from .chat import add_chat_arguments
from .docs import add_docs_commands, run_docs_command
from .models import add_model_commands, run_models_command
from .policy import add_policy_commands, run_policy_command
from .presets import add_preset_commands, run_presets_command
from .route import add_route_arguments
from .serve import add_serve_arguments
from .terminal_log import command_logging


def for_terminal(exc: ScalpelError) -> str:
    """The error's sentence, with where to act in the terminal, if anywhere (the window
    adds its own places in ui/error_text.py)."""
    if isinstance(exc, InsufficientMemoryError) and exc.suggested_n_ctx:
        return f"{exc} (scalpel chat --ctx {exc.suggested_n_ctx})"
    return str(exc)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scalpel", description="Scalpel: a private assistant that runs small models locally.")
    parser.add_argument("--version", action="version", version=f"scalpel {__version__}")
    parser.add_argument("--model", metavar="ID|PATH", help="model id or GGUF file to load")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also print every log record to stderr (the log file has them all)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    chat = commands.add_parser("chat", help="answer a prompt in the terminal (a REPL without one)")
    add_chat_arguments(chat)

    models = commands.add_parser("models", help="list, download, import, remove, verify models")
    add_model_commands(models)

    presets = commands.add_parser("presets", help="list the task presets or show one")
    add_preset_commands(presets)

    docs = commands.add_parser("docs", help="your own documents: add, list, remove, rescan, search")
    add_docs_commands(docs)

    policy = commands.add_parser("policy", help="the organization's policy: show it, check a file")
    add_policy_commands(policy)

    serve = commands.add_parser("serve", help="the local OpenAI-compatible API (loopback, token)")
    add_serve_arguments(serve)

    route = commands.add_parser("route", help="which task Auto would give a message (no answer)")
    add_route_arguments(route)

    doctor = commands.add_parser("doctor", help="versions, paths, threads, GPU support, models")
    doctor.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    paths = Paths.from_environment()
    try:
        paths.ensure()  # before the log file goes there
        with command_logging(paths, verbose=args.verbose):
            services = build_services(paths)
            if services.settings_store.warning and args.command not in (None, "doctor"):
                # the window and `scalpel doctor` show it themselves
                print(f"scalpel: note: {services.settings_store.warning}", file=sys.stderr)
            return _dispatch(args, services)
    except UsageError as exc:
        parser.exit(exc.exit_code, f"scalpel: error: {exc}\n")
    except ScalpelError as exc:
        print(f"scalpel: {for_terminal(exc)}", file=sys.stderr)
        return ExitCode.FAILURE
    except BrokenPipeError:  # `scalpel models list | head -1`: the reader has gone, say nothing
        _drop_stdout()
        return ExitCode.FAILURE
    except OSError as exc:  # an unwritable data folder, a file where a folder should be
        print(f"scalpel: {os_error_sentence(exc, paths)}", file=sys.stderr)
        return ExitCode.FAILURE
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return ExitCode.INTERRUPTED


def os_error_sentence(exc: OSError, paths: Paths) -> str:
    """The path and the reason, without errno numbers, and what to do about Scalpel's own
    folders."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is None:
        return reason
    if isinstance(exc, NotADirectoryError):
        reason = "part of that path is a file, not a folder"
    elif isinstance(exc, FileExistsError) and _is_file(exc.filename):
        reason = "it is a file, and a folder is needed there"
    if exc.filename2 is not None:
        sentence = f"cannot move {exc.filename} to {exc.filename2}: {reason}"
    else:
        sentence = f"cannot use {exc.filename}: {reason}"
    own = (paths.config_dir, paths.data_dir, paths.cache_dir, paths.log_dir)
    if any(_within(exc.filename, folder) for folder in own):
        sentence += ("; Scalpel keeps its files there: check that folder and its permissions, "
                     "or set SCALPEL_HOME to a folder you can write to")
    return sentence


def _within(filename: str | bytes | int, folder: Path) -> bool:
    if not isinstance(filename, str):
        return False
    path = Path(filename)
    return path == folder or folder in path.parents or path in folder.parents


def _is_file(filename: str | bytes | int) -> bool:
    return isinstance(filename, str) and Path(filename).is_file()


def _drop_stdout() -> None:
    """Point stdout at devnull so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _dispatch(args: argparse.Namespace, services: Services) -> int:
    if args.command == "chat":
        from .chat import run_chat

        return run_chat(args, services, model=args.chat_model or args.model)
    if args.command == "models":
        return run_models_command(args, services)
    if args.command == "presets":
        return run_presets_command(args, services)
    if args.command == "policy":
        return run_policy_command(args, services)
    if args.command == "docs":
        return run_docs_command(args, services)
    if args.command == "route":
        from .route import run_route

        return run_route(args, services, model=args.model)
    if args.command == "serve":
        from .serve import run_serve

        return run_serve(args, services, model=args.serve_model or args.model)
    if args.command == "doctor":
        from .doctor import collect_report, format_report

        report = collect_report(services)
        print(json.dumps(report, indent=2) if args.json else format_report(report))
        return ExitCode.OK
    return _start_gui(services, model=args.model)


def _start_gui(services: Services, *, model: str | None) -> int:
    initial = services.registry.resolve(model) if model else None  # fail fast on a bad id
    try:
        from ..app import run_gui
    except ImportError as exc:
        raise ScalpelError(f"the window cannot start because Qt is missing ({exc}); "
                           "reinstall Scalpel") from exc
    return run_gui(services, initial_model=initial, on_already_open=_say_already_open)


def _say_already_open() -> None:
    print("scalpel: Scalpel is already open; its window was brought forward.", file=sys.stderr)
