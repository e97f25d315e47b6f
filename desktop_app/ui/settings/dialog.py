"""The settings window (Ctrl+, or File ▸ Settings…): five pages, one Save.

Save is enabled only while every typed value passes its rule; each wrong one shows its
reason beside it, and the line above the buttons names the first. Saving goes through
``Services.update_settings`` (checked again, refused if locked, written atomically,
announced), and the line then says what applied now and what applies later ("when a
model is next loaded", "from the next download").
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QListWidget,
                               QStackedWidget, QVBoxLayout)

from ...core.errors import ScalpelError
from ...core.services import Services
from . import saving
from .advanced_page import AdvancedPage
from .fields import NOW, error_style
from .general_page import GeneralPage
from .models_page import ModelsPage
from .network_page import NetworkPage
from .page import SettingsPage, open_with_system
from .privacy_page import PrivacyPage

LABELS = {"theme": "theme", "keep_models_loaded": "models kept loaded",
          "n_ctx": "context size", "n_gpu_layers": "GPU offload", "n_threads": "CPU threads",
          "flash_attn": "flash attention",
          "hub_endpoint": "mirror", "hub_token": "Hub token", "escalation": "escalation",
          "proxy": "proxy", "ca_bundle": "CA bundle", "downloads_enabled": "downloads"}


class SettingsDialog(QDialog):
    def __init__(self, services: Services, *, window: Any = None,
                 open_url: Callable[[QUrl], bool] = open_with_system,
                 confirm: Callable[[str], bool] | None = None) -> None:
        super().__init__(window)
        self.services = services
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.resize(820, 600)
        options = {"window": window, "open_url": open_url}
        self.general = GeneralPage(services, **options)
        self.models = ModelsPage(services, **options)
        self.network = NetworkPage(services, **options)
        self.privacy = PrivacyPage(services, confirm=confirm, **options)
        self.advanced = AdvancedPage(services, **options)
        self.pages: list[SettingsPage] = [self.general, self.models, self.network,
                                          self.privacy, self.advanced]
        self.nav = QListWidget()
        self.nav.setAccessibleName("Settings pages")
        self.nav.setMaximumWidth(160)
        self.stack = QStackedWidget()
        for page in self.pages:
            self.nav.addItem(page.title)
            self.stack.addWidget(page)
            page.edited.connect(self._update)
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.setCurrentRow(0)
        self.status = QLabel("")
        self.status.setObjectName("settingsStatus")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Close)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.clicked.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        body = QHBoxLayout()
        body.addWidget(self.nav)
        body.addWidget(self.stack, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self._update()

    def show_page(self, title: str) -> SettingsPage:
        index = next(i for i, p in enumerate(self.pages) if p.title == title)
        self.nav.setCurrentRow(index)
        return self.pages[index]

    # -- state ---------------------------------------------------------------------------
    def errors(self) -> list[str]:
        return [error for page in self.pages for error in page.errors()]

    def changes(self) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for page in self.pages:
            changes.update(page.changes())
        return changes

    def _update(self) -> None:
        errors = self.errors()
        pending = bool(self.changes()) or any(p.has_actions() for p in self.pages)
        self.save_button.setEnabled(not errors and pending)
        if errors:
            self.status.setText(f"Not saved until this is fixed: {errors[0]}")
            self.status.setStyleSheet(error_style())
        elif self.status.styleSheet():
            self.status.setText("")
            self.status.setStyleSheet("")

    # -- saving --------------------------------------------------------------------------
    def save(self) -> frozenset[str] | None:
        """Save every change; the names saved, or None when nothing could be (the status
        line says why)."""
        if self.errors():
            self._update()
            return None
        changes = self.changes()
        try:
            names = saving.save(self.services, changes) if changes else frozenset()
        except (ScalpelError, ValueError) as exc:
            self.status.setText(f"Not saved: {exc}")
            self.status.setStyleSheet(error_style())
            return None
        for page in self.pages:
            page.saved(names)
        if "theme" in names:  # reasons drawn in the old theme's red
            for page in self.pages:
                for field in page.fields:
                    field.revalidate()
        done = [sentence for page in self.pages for sentence in page.actions()]
        self.status.setStyleSheet("")
        self.status.setText(self.summary(names, done))
        self._update()
        return names

    def summary(self, names: frozenset[str], done: list[str]) -> str:
        when: dict[str, list[str]] = {}
        applies: dict[str, str] = {}
        for page in self.pages:
            applies.update(page.applies())
        for name in sorted(names):
            when.setdefault(applies.get(name, NOW), []).append(LABELS.get(name, name))
        parts = [f"Applied now: {', '.join(when.pop(NOW))}"] if NOW in when else []
        parts += [f"Applies {later}: {', '.join(what)}" for later, what in when.items()]
        parts += [sentence[0].upper() + sentence[1:] for sentence in done]
        if not parts:
            return "Nothing to save."
        return "Saved. " + ". ".join(parts) + "."
