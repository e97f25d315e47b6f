"""What reaches the terminal while a command runs: Scalpel's own sentences, nothing else.

Every log record (Scalpel's, huggingface_hub's retry warnings, llama.cpp's native log in
the ``llama_cpp.native`` logger, Python ``warnings``) goes to the rotating ``scalpel.log``
(:func:`desktop_app.core.logs.log_to_file`), never into a streamed answer or next to an
error line. ``--verbose`` copies every record to stderr as well. What a command sets up
is undone when it ends, so commands can also run in-process (tests).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from typing import Iterator

from ..core.logs import log_to_file
from ..core.paths import Paths

TERMINAL_FORMAT = "%(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def command_logging(paths: Paths, *, verbose: bool) -> Iterator[None]:
    """Log to the file in ``paths.log_dir`` (and to stderr with ``verbose``) for one command.

    Raises ``OSError`` when the log file cannot be opened, before the command starts.
    """
    root = logging.getLogger()
    handlers_before, level_before = list(root.handlers), root.level
    showwarning_before = warnings.showwarning
    try:
        if verbose:
            console = logging.StreamHandler(sys.stderr)
            console.setFormatter(logging.Formatter(TERMINAL_FORMAT))
            root.addHandler(console)
            root.setLevel(logging.DEBUG)
        log_to_file(paths)
        yield
    finally:
        for handler in [h for h in root.handlers if h not in handlers_before]:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level_before)
        if warnings.showwarning is not showwarning_before:
            logging.captureWarnings(False)
