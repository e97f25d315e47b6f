"""File dialogs that open where the person last was, and "Show in folder".

Every dialog the main window opens (Open model file, Export, Back up, Import) starts in
the folder of the last file chosen in any of them, kept in the ``last_folder`` setting so
it survives a restart; a folder that has gone since falls back to the home folder. A
settings save that fails (a full disk, a locked key) only loses the convenience, so it is
logged, never shown.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QWidget

from ..core.errors import ScalpelError

log = logging.getLogger(__name__)


class FolderMemory:
    """The folder file dialogs start in; ``load``/``save`` reach the settings."""

    def __init__(self, *, load: Callable[[], str | None] = lambda: None,
                 save: Callable[[str], None] | None = None) -> None:
        self._load = load
        self._save = save
        self._here: str | None = None  # remembered for this run when nothing saves it

    @classmethod
    def in_settings(cls, services) -> "FolderMemory":
        return cls(load=lambda: services.settings.last_folder,
                   save=lambda folder: services.update_settings(last_folder=folder))

    def folder(self) -> Path:
        for candidate in (self._here, self._load()):
            if candidate and Path(candidate).is_dir():
                return Path(candidate)
        return Path.home()

    def remember(self, chosen: str | Path) -> None:
        """The folder of the file ``chosen`` becomes where the next dialog opens."""
        folder = Path(chosen).parent if not Path(chosen).is_dir() else Path(chosen)
        self._here = str(folder)
        if self._save is not None:
            try:
                self._save(str(folder))
            except (ScalpelError, OSError) as exc:
                log.warning("could not remember the folder %s: %s", folder, exc)

    def open_file(self, parent: QWidget, title: str, filter_: str) -> str:
        path, _ = QFileDialog.getOpenFileName(parent, title, str(self.folder()), filter_)
        if path:
            self.remember(path)
        return path

    def save_file(self, parent: QWidget, title: str, name: str, filter_: str) -> str:
        path, _ = QFileDialog.getSaveFileName(parent, title, str(self.folder() / name), filter_)
        if path:
            self.remember(path)
        return path


def show_in_folder(path: str | Path) -> bool:
    """Open the folder holding ``path`` in the system's file manager."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path).parent)))
