"""The preset editor's Models tab: which models a task prefers, best first."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QVBoxLayout, QWidget)

from ...core.catalog import Catalog
from ...core.errors import format_size
from ..plain_text import plain_tip

MODEL_ID_ROLE = Qt.ItemDataRole.UserRole


class PreferredModelsEditor(QWidget):
    """A checkable, reorderable list of the catalog's models (plus any other ids kept)."""

    changed = Signal()

    def __init__(self, catalog: Catalog, installed_ids: Callable[[], set[str]],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._catalog = catalog
        self._installed_ids = installed_ids
        self._read_only = False
        self._loading = False
        self.list = QListWidget()
        self.list.setAccessibleName("Preferred models")
        tip = "Check the models this preset prefers; the first installed one answers"
        self.list.setAccessibleDescription(tip)
        self.list.setToolTip(tip)
        self.up = QPushButton("Move up")
        self.up.setAccessibleName("Move model up")
        self.down = QPushButton("Move down")
        self.down.setAccessibleName("Move model down")
        hint = QLabel("Check the models this preset prefers, best first. Scalpel answers with "
                      "the first checked model that is installed and offers to download the "
                      "first one.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(placeholder-text);")
        buttons = QVBoxLayout()
        buttons.addWidget(self.up)
        buttons.addWidget(self.down)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.list, 1)
        row.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addLayout(row, 1)
        self.list.itemChanged.connect(self._on_edit)
        self.list.currentRowChanged.connect(self._update_buttons)
        self.up.clicked.connect(lambda: self.move(-1))
        self.down.clicked.connect(lambda: self.move(1))

    def load(self, preferred: tuple[str, ...], *, read_only: bool) -> None:
        """Preferred ids first (checked, in order), then the rest of the catalog, installed first."""
        self._read_only = read_only
        installed = set(self._installed_ids() or ())
        self._loading = True
        try:
            self.list.clear()
            rest = sorted((e for e in self._catalog  # chat models: no embedding ones
                           if e.id not in preferred and not e.is_embedding),
                          key=lambda e: e.id not in installed)  # stable: catalog order otherwise
            for model_id in preferred:
                self._add(model_id, True, installed)
            for entry in rest:
                self._add(entry.id, False, installed)
        finally:
            self._loading = False
        self._update_buttons()

    def _add(self, model_id: str, checked: bool, installed: set[str]) -> None:
        entry = self._catalog.get(model_id)
        if entry is not None:
            text = f"{entry.name} · {format_size(entry.size_bytes)}"
            tip = f"{entry.id}\n{entry.description}"
        else:
            text, tip = f"{model_id} (not in the catalog)", model_id
        if model_id in installed:
            text += " · installed"
        item = QListWidgetItem(text)
        item.setData(MODEL_ID_ROLE, model_id)
        item.setToolTip(plain_tip(tip))  # ids and descriptions come from preset files
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if not self._read_only:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        item.setFlags(flags)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        self.list.addItem(item)

    def preferred(self) -> tuple[str, ...]:
        return tuple(self.list.item(i).data(MODEL_ID_ROLE) for i in range(self.list.count())
                     if self.list.item(i).checkState() == Qt.CheckState.Checked)

    def move(self, step: int) -> None:
        row = self.list.currentRow()
        target = row + step
        if self._read_only or row < 0 or not 0 <= target < self.list.count():
            return
        self._loading = True  # takeItem/insertItem are not edits by themselves
        try:
            self.list.insertItem(target, self.list.takeItem(row))
            self.list.setCurrentRow(target)
        finally:
            self._loading = False
        self._on_edit()

    def set_read_only(self, read_only: bool) -> None:
        self._read_only = read_only
        self._update_buttons()

    def _on_edit(self, *_args) -> None:
        self._update_buttons()
        if not self._loading:
            self.changed.emit()

    def _update_buttons(self, *_args) -> None:
        row = self.list.currentRow()
        self.up.setEnabled(not self._read_only and row > 0)
        self.down.setEnabled(not self._read_only and 0 <= row < self.list.count() - 1)
