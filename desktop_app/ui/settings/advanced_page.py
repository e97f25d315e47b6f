"""Advanced: open the data, config and log folders in the system's file manager."""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QPushButton

from .page import SettingsPage, info


def folders(services) -> list[tuple[str, str, object]]:
    paths = services.paths
    return [("data", "Data folder (chats, models)", paths.data_dir),
            ("config", "Config folder (settings, presets, API token)", paths.config_dir),
            ("logs", "Log folder", paths.log_dir)]


class AdvancedPage(SettingsPage):
    title = "Advanced"

    def __init__(self, services, **options) -> None:
        super().__init__(services, **options)
        form = self.section("Folders", "Scalpel keeps everything in these folders. "
                                       "Close Scalpel before moving or editing files there.")
        self.buttons: dict[str, QPushButton] = {}
        for name, label, path in folders(services):
            button = QPushButton(f"Open {label.split(' (')[0].lower()}")
            button.setObjectName(f"open_{name}")
            button.setAccessibleName(f"Open the {label.split(' (')[0].lower()}")
            button.setToolTip(str(path))
            button.clicked.connect(
                lambda _checked=False, p=path: self.open_url(QUrl.fromLocalFile(str(p))))
            self.buttons[name] = button
            form.addRow(f"{label}:", info(str(path)))
            form.addRow("", button)
        self.finish()
