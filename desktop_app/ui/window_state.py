"""The window's size, splitter position and open chat, kept across runs in the settings."""

from __future__ import annotations

import logging

from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QMainWindow, QSplitter

from ..core.errors import ScalpelError
from ..core.services import Services
from ..core.settings import Settings

log = logging.getLogger(__name__)


def restore_window_state(window: QMainWindow, splitter: QSplitter, settings: Settings) -> None:
    if settings.window_geometry:
        window.restoreGeometry(QByteArray.fromBase64(settings.window_geometry.encode("ascii")))
    if len(settings.splitter_sizes) == splitter.count() and all(
            size > 0 for size in settings.splitter_sizes):
        splitter.setSizes(settings.splitter_sizes)


def save_window_state(window: QMainWindow, splitter: QSplitter, services: Services, *,
                      open_chat: int | None) -> None:
    """Kept through the settings service; a failure is logged (the window is closing)."""
    try:
        services.update_settings(
            window_geometry=bytes(window.saveGeometry().toBase64()).decode("ascii"),
            splitter_sizes=list(splitter.sizes()), last_chat_id=open_chat)
    except ScalpelError as exc:
        log.warning("could not save the window's state: %s", exc)
