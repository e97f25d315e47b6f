"""The window's size, splitter position and open chat, kept across runs in the settings."""

from __future__ import annotations

import logging

from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QMainWindow, QSplitter

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
    settings = services.settings
    settings.window_geometry = bytes(window.saveGeometry().toBase64()).decode("ascii")
    settings.splitter_sizes = list(splitter.sizes())
    settings.last_chat_id = open_chat
    try:
        services.settings_store.save(settings)
    except OSError as exc:
        log.warning("could not save the window's state: %s", exc)
