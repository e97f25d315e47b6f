"""The line icons presets show in lists and combos (``resources/icons/presets``)."""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap

from ..core.presets import ICONS
from ..core.resources import resource_path

FALLBACK_ICON = "custom"
SELECTED_COLOR = Qt.GlobalColor.white
_SELECTED_SIZES = (16, 20, 24, 32, 48)


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
    icon = QIcon(preset_icon_path(name))
    # Qt tints selected icons towards the highlight colour, which makes a blue line icon
    # vanish on a blue selection: give the selected state a white version instead.
    for size in _SELECTED_SIZES:
        icon.addPixmap(_recolored(icon.pixmap(size, size)), QIcon.Mode.Selected)
    return icon


def _recolored(pixmap: QPixmap) -> QPixmap:
    out = QPixmap(pixmap)
    painter = QPainter(out)
    painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
    painter.fillRect(out.rect(), SELECTED_COLOR)
    painter.end()
    return out
