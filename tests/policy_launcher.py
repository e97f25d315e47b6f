"""Run ``scalpel`` as installed, on a machine whose machine-wide folder is MACHINE_DIR.

    python tests/policy_launcher.py MACHINE_DIR [--swap-on-load FILE] [--fail-hashing] -- ARGS

The folder is moved in code (``paths.MACHINE_CONFIG_DIR``), never through an
environment variable the app reads, so a test can then try every variable a user
could set. Engine processes this run starts go through this launcher too.

Test-only hooks, each a bypass made deterministic:
``--swap-on-load FILE``  moves FILE over the model's path right after the window-side
                         (parent) check, before the engine process opens it;
``--fail-hashing``       hashing a model in the engine process raises OSError.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path


def _hooks(options: list[str]) -> None:
    if "--fail-hashing" in options:
        from desktop_app.core.policy import gate

        def fail(fd: int, **_) -> str:
            raise OSError(errno.EIO, "Input/output error")

        gate.digest_of_descriptor = fail
    if "--swap-on-load" in options:
        source = options[options.index("--swap-on-load") + 1]
        from desktop_app.core.engine.process import EngineProcess

        request = EngineProcess._request

        def swapping(self, op: str, **args):
            if op == "load":
                os.replace(source, args["path"])
            return request(self, op, **args)

        EngineProcess._request = swapping


def main() -> int:
    machine, rest = sys.argv[1], sys.argv[2:]
    split = rest.index("--") if "--" in rest else 0
    options, args = rest[:split], rest[split + 1:] if "--" in rest else rest
    from desktop_app.core import paths
    from desktop_app.core.engine.child import CHILD_FLAG

    paths.MACHINE_CONFIG_DIR = Path(machine)
    _hooks(options)
    if args == [CHILD_FLAG]:
        from desktop_app.core.engine import child

        return child.main()
    from desktop_app.core.engine import process

    # The engine process is this launcher again, with the same machine folder and hooks
    # (the swap is the parent's: it is not passed on).
    child_options = [o for o in options if o == "--fail-hashing"]
    process.engine_command = lambda: [sys.executable, os.path.abspath(__file__), machine,
                                      *child_options, "--", CHILD_FLAG]
    from desktop_app.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
