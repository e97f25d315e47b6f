"""The settings window: General, Models, Network, Privacy and Advanced pages."""

from .dialog import SettingsDialog
from .installer import SettingsMenu, install_settings_menu

__all__ = ["SettingsDialog", "SettingsMenu", "install_settings_menu"]
