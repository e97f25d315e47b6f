"""The window's theme: the system's colours, or light or dark whatever the system says.

Scalpel drew itself in the system's palette until there was a choice; "system" still
does (the palette the application started with, put back). Light and dark set Fusion's
palette explicitly, because ``QStyleHints.setColorScheme`` alone is a request the
platform may ignore (the offscreen and some Linux platforms do); it is still asked, so
native dialogs follow where the platform honours it. Widgets that pick colours from the
palette (the message bars, the conversation) repaint on the palette change.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

THEMES = ("system", "light", "dark")
THEME_LABELS = {"system": "Same as the system", "light": "Light", "dark": "Dark"}
_SCHEMES = {"system": Qt.ColorScheme.Unknown, "light": Qt.ColorScheme.Light,
            "dark": Qt.ColorScheme.Dark}
_started_with: dict[int, tuple[QPalette, str]] = {}


def dark_palette() -> QPalette:
    palette = QPalette()
    roles = QPalette.ColorRole
    for role, colour in ((roles.Window, "#2b2b2e"), (roles.WindowText, "#e8e8ea"),
                         (roles.Base, "#1f1f22"), (roles.AlternateBase, "#333337"),
                         (roles.ToolTipBase, "#333337"), (roles.ToolTipText, "#e8e8ea"),
                         (roles.PlaceholderText, "#9a9aa0"), (roles.Text, "#e8e8ea"),
                         (roles.Button, "#38383c"), (roles.ButtonText, "#e8e8ea"),
                         (roles.BrightText, "#ff6b6b"), (roles.Link, "#8ab4f8"),
                         (roles.Highlight, "#3d6fb6"), (roles.HighlightedText, "#ffffff")):
        palette.setColor(role, QColor(colour))
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a80"))
    return palette


def light_palette() -> QPalette:
    style = QStyleFactory.create("Fusion")
    return style.standardPalette() if style else QPalette()


def apply_theme(name: str) -> None:
    """Colour the whole application for ``name`` ("system", "light" or "dark")."""
    app = QApplication.instance()
    if app is None or name not in THEMES:
        return
    key = id(app)
    if key not in _started_with:
        _started_with[key] = (QPalette(app.palette()), app.style().name())
    palette, style = _started_with[key]
    QGuiApplication.styleHints().setColorScheme(_SCHEMES[name])
    if name == "system":
        if app.style().name().lower() != style.lower():
            app.setStyle(style)
        app.setPalette(palette)
        return
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")  # the palette is honoured whole only by Fusion
    app.setPalette(dark_palette() if name == "dark" else light_palette())


def is_dark() -> bool:
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128
