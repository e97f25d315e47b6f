"""File ▸ Settings… (Ctrl+,) on the main window, and what a saved setting changes live.

``install_settings_menu`` is the one call main_window makes. Besides the menu entry it
applies the saved theme as the window opens, and gives the download queue a new Hub
client when the mirror or the token changes, so the next download uses them (a running
one finishes as it started). ``keep_models_loaded`` the window applies itself.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QEvent, QObject, QUrl
from PySide6.QtGui import QAction, QKeySequence

from ...core.services import Services
from ..event_kinds import is_close_of
from . import saving
from .dialog import SettingsDialog
from .page import open_with_system
from .theme import apply_theme

HUB_SETTINGS = frozenset({"hub_endpoint", "hub_token", "proxy", "ca_bundle"})


class SettingsMenu(QObject):
    def __init__(self, window: Any, services: Services, *,
                 open_url: Callable[[QUrl], bool] = open_with_system) -> None:
        super().__init__(window)
        self._window, self._services, self._open_url = window, services, open_url
        self.dialog: SettingsDialog | None = None
        self.action = QAction("&Settings…", window)
        self.action.setShortcut(QKeySequence("Ctrl+,"))
        self.action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.action.setToolTip("Theme, models, network, privacy (Ctrl+,)")
        self.action.triggered.connect(lambda: self.open())
        _insert_in_file_menu(window, self.action)
        theme = saving.current(services, "theme")
        if theme and theme != "system":
            apply_theme(theme)
        self._unsubscribe = services.settings_service.subscribe(self._on_settings_changed)
        window.installEventFilter(self)  # unsubscribes as the window closes

    def open(self, page: str | None = None) -> SettingsDialog:
        if self.dialog is None or not self.dialog.isVisible():
            self.dialog = SettingsDialog(self._services, window=self._window,
                                         open_url=self._open_url)
        if page:
            self.dialog.show_page(page)
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()
        return self.dialog

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if is_close_of(watched, self._window, event):
            self._unsubscribe()
            if self.dialog is not None:
                self.dialog.close()
        return False

    def _on_settings_changed(self, names: frozenset[str]) -> None:
        downloads = getattr(self._window, "downloads", None)
        if names & HUB_SETTINGS and downloads is not None:
            downloads.manager.hub = self._services.hub_client()


def _insert_in_file_menu(window: Any, action: QAction) -> None:
    """File ▸ Settings…, just above the separator before Quit."""
    bar = window.menuBar().actions()
    file_menu = bar[0].menu() if bar else None
    if file_menu is None:
        window.menuBar().addAction(action)
        return
    separators = [a for a in file_menu.actions() if a.isSeparator()]
    if separators:
        file_menu.insertAction(separators[-1], action)
    else:
        file_menu.addAction(action)


def install_settings_menu(window: Any, services: Services, **options: Any) -> SettingsMenu:
    return SettingsMenu(window, services, **options)
