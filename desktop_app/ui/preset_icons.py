"""The line icons presets show in lists and combos (``resources/icons/presets``)."""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtGui import QIcon

from ..core.presets import ICONS
from ..core.resources import resource_path

FALLBACK_ICON = "custom"


def preset_icon_path(name: str) -> str:
    """The SVG file for ``name``; unknown names get the fallback icon's file."""
    if name not in ICONS:
        name = FALLBACK_ICON
    path = resource_path("icons", "presets", f"{name}.svg")
    if not path.is_file():
        path = resource_path("icons", "presets", f"{FALLBACK_ICON}.svg")
    return str(path)


def preset_icon(name: str) -> QIcon:
    """A cached QIcon for a preset's icon name (created on first use, never at import)."""
    return _icon(name if name in ICONS else FALLBACK_ICON)


@lru_cache(maxsize=len(ICONS) + 1)
def _icon(name: str) -> QIcon:
    return QIcon(preset_icon_path(name))
