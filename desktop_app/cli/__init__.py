"""The ``scalpel`` command, one module per command group (no Qt; the window is imported
only when it starts):

- ``dispatch``: the parser, the dispatch, and how failures end (one line, an exit code)
- ``terminal_log``: library log records go to the log file, not the terminal
- ``chat``: ``scalpel chat``; ``models``: ``scalpel models ...``; ``presets``:
  ``scalpel presets ...``; ``policy``: ``scalpel policy ...``; ``doctor``: ``scalpel doctor``

Only entry points import it: the console script ``desktop_app.cli:main``, ``python -m
desktop_app`` and ``python -m desktop_app.cli``, and packaging/scalpel_main.py.
"""

from .dispatch import build_parser, main

__all__ = ["build_parser", "main"]
