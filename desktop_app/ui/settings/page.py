"""What every settings page shares: a column of sections, its fields, and its changes."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QScrollArea, QVBoxLayout, QWidget

from ...core.services import Services
from . import saving
from .fields import SettingField

OpenUrl = Callable[[QUrl], bool]


def open_with_system(url: QUrl) -> bool:
    return QDesktopServices.openUrl(url)


class SettingsPage(QScrollArea):
    """A page: ``fields`` it edits, ``changes()`` to save, ``applied(names)`` after a save."""

    title = ""
    edited = Signal()

    def __init__(self, services: Services, *, window: Any = None,
                 open_url: OpenUrl = open_with_system) -> None:
        super().__init__()
        self.services, self.window, self.open_url = services, window, open_url
        self.fields: list[SettingField] = []
        self.setWidgetResizable(True)
        self.setAccessibleName(f"{self.title} settings")
        body = QWidget()
        self.column = QVBoxLayout(body)
        self.column.setContentsMargins(12, 12, 12, 12)
        self.setWidget(body)

    # -- building ----------------------------------------------------------------------
    def section(self, title: str, text: str = "") -> QFormLayout:
        box = QGroupBox(title)
        outer = QVBoxLayout(box)
        if text:
            outer.addWidget(info(text))
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        outer.addLayout(form)
        self.column.addWidget(box)
        return form

    def add(self, form: QFormLayout, field: SettingField, value: Any = None, *,
            locked: str | None = None) -> SettingField:
        """Show ``field`` in ``form`` with the setting's value (or ``value``), locked if the
        policy sets it (``locked``: where)."""
        key = field.key
        where = locked if locked is not None else (
            saving.locked_where(self.services, key) if "." not in key else None)
        shown = value if value is not None or "." in key else saving.current(self.services, key)
        if where is not None:
            field.lock(shown, where or None)
        else:
            field.load(shown)
        field.changed.connect(self.edited)
        form.addRow(field.label + ":", field.widget)
        self.fields.append(field)
        return field

    def finish(self) -> None:
        self.column.addStretch(1)

    # -- saving ------------------------------------------------------------------------
    def errors(self) -> list[str]:
        return [f"{f.label}: {f.error}" for f in self.fields if f.error]

    def changes(self) -> dict[str, Any]:
        return {f.key: f.value() for f in self.fields if f.is_changed()}

    def applies(self) -> dict[str, str]:
        """For each key this page saves: when the change takes effect."""
        return {f.key: f.applies for f in self.fields}

    def saved(self, names: frozenset[str]) -> None:
        """After a save: the new values are the ones to compare with."""
        for f in self.fields:
            if f.key in names and not f.locked:
                f.initial = f.value()
        self.edited.emit()

    def actions(self) -> list[str]:
        """Things this page does on Save besides settings; a sentence for each done."""
        return []

    def has_actions(self) -> bool:
        return False


def info(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label
