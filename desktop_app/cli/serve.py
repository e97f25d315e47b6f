"""``scalpel serve``: the local OpenAI-compatible API, headless, on its own engine process.

Loopback only unless ``--host`` names another address (and the policy allows it);
every request needs the token (``--show-token`` prints it, ``--rotate-token`` makes a
new one). The model: ``--model``, else the last one used, else the first installed;
requests may name another installed model or a preset (core/api/engine_host.py).
"""

from __future__ import annotations

import argparse
import sys
import threading

from ..core.api import ApiToken, options_for, read_person_settings
from ..core.api.config import DEFAULT_PORT, ApiOptions
from ..core.errors import ExitCode, UsageError
from ..core.services import Services


def add_serve_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--port", type=int, metavar="N",
                       help=f"port to listen on (default {DEFAULT_PORT}; the next free one "
                            "if it is in use)")
    serve.add_argument("--host", metavar="ADDRESS", default=None,
                       help="address to listen on (default 127.0.0.1; another interface "
                            "exposes the API to the network, if the policy allows it)")
    serve.add_argument("--model", dest="serve_model", metavar="ID|PATH",
                       help="model to load first (default: the last one used)")
    serve.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                       help="a web origin (https://host[:port]) allowed to call the API from "
                            "a browser; repeatable. None by default")
    serve.add_argument("--queue", type=int, metavar="N",
                       help=f"requests held at once, running or waiting (default "
                            f"{ApiOptions.queue_size}); more get 429")
    serve.add_argument("--show-token", action="store_true",
                       help="print the API token and exit")
    serve.add_argument("--rotate-token", action="store_true",
                       help="replace the API token with a new one, print it and exit "
                            "(clients using the old one get 401)")


def run_serve(args: argparse.Namespace, services: Services, *, model: str | None) -> int:
    from ..core.api.engine_host import EngineHost
    from ..core.api.server import ApiServer

    token = ApiToken(services.paths.config_dir)
    if args.rotate_token or args.show_token:
        print(token.rotate() if args.rotate_token else token.value)
        return ExitCode.OK
    if args.port is not None and not 0 <= args.port <= 65535:
        raise UsageError("--port must be a port number from 1 to 65535 (0: any free port)")
    if args.queue is not None and not 1 <= args.queue <= 256:
        raise UsageError("--queue must be from 1 to 256")
    base = ApiOptions() if args.queue is None else ApiOptions(queue_size=args.queue)
    options = options_for(services.policy, host=args.host, port=args.port,
                          origins=tuple(args.allow_origin),
                          person=read_person_settings(services.paths.config_dir), base=base)
    ref = services.registry.resolve(model) if model else services.default_model()
    if ref is None:
        raise UsageError(services.no_model_reason())
    engine = services.new_engine_process()
    try:
        print(f"scalpel: loading {ref.name}…", file=sys.stderr)
        engine.load(ref.path, services.load_options(ref), name=ref.name)
        server = ApiServer(EngineHost(services, engine, owns_engine=True), token, options)
        address = server.start()
        if options.port and server.port != options.port:
            print(f"scalpel: port {options.port} is in use; using {server.port}",
                  file=sys.stderr)
        print(f"Scalpel API at {address} with {ref.name}")
        print(f"Token (Authorization: Bearer …): in {token.path}; "
              "`scalpel serve --show-token` prints it")
        if options.allowed_origins:
            print("Web origins allowed: " + ", ".join(options.allowed_origins))
        print("Ctrl+C stops it.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("scalpel: stopping the API", file=sys.stderr)
        server.stop()
        return ExitCode.OK
    finally:
        engine.unload()
