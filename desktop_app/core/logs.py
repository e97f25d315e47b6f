"""Scalpel's log file: every process's log records go to the rotating ``scalpel.log``.

The window and the ``scalpel`` command both call :func:`log_to_file`. Libraries' own
warnings (huggingface_hub's retries, llama.cpp's native log in the ``llama_cpp.native``
logger, Python ``warnings``) end up there too, so a terminal shows only Scalpel's own
sentences; ``scalpel --verbose`` adds a handler on stderr for people who want them all.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from .paths import Paths

LOG_FILE_NAME = "scalpel.log"
MAX_BYTES = 2_000_000
BACKUP_COUNT = 2
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_file(paths: Paths) -> Path:
    return paths.log_dir / LOG_FILE_NAME


def log_to_file(paths: Paths, *, level: int = logging.INFO) -> logging.Handler:
    """Send the root logger's records at ``level`` and above to ``<log dir>/scalpel.log``.

    Calling it again for the same file returns the handler already installed. Python
    ``warnings`` are logged too (logger ``py.warnings``) instead of printed. Raises
    ``OSError`` when the log folder or file cannot be created or opened.
    """
    path = log_file(paths)
    root = logging.getLogger()
    for handler in root.handlers:
        if (isinstance(handler, logging.handlers.RotatingFileHandler)
                and handler.baseFilename == os.path.abspath(path)):
            return handler
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(min(root.level, level) if root.level else level)
    logging.captureWarnings(True)
    return handler


def into_log_file_only(logger_name: str) -> None:
    """Take off the console handlers a library put on its own logger, so its records reach
    only the root logger's handlers (the log file; stderr too with ``scalpel --verbose``).

    huggingface_hub adds a stderr handler to its logger when it is imported: its retry
    warnings would otherwise print in the middle of the terminal (twice, with the root's).
    """
    logger = logging.getLogger(logger_name)
    for handler in list(logger.handlers):
        if type(handler) is logging.StreamHandler:  # not a FileHandler (a subclass)
            logger.removeHandler(handler)
    logger.propagate = True
