"""Choosing the model: the toolbar's model box and the Model menu, kept in step.

The menu also sets how many models stay loaded for instant switching. Models
the organization's policy refuses are listed but greyed out, so people see
why they cannot pick them; a locked setting says who set it. Models are named as the
model manager's Installed tab names them (``model_manager/names.py``: the catalog's
name, else the GGUF's own), never by a file name when the file has a better one.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QComboBox, QMenu, QWidget

from ..core.errors import format_size
from ..core.models import ModelRef
from .model_manager.names import ModelNames
from .plain_text import plain_tip

KEEP_CHOICES = (1, 2, 3, 4)
NOT_ALLOWED = "not allowed by your organization"
SET_BY_ORGANIZATION = "set by your organization"


class ModelMenu(QObject):
    model_chosen = Signal(str)        # path
    keep_loaded_chosen = Signal(int)

    def __init__(self, parent: QWidget, *, tail_actions: list[QAction],
                 names: ModelNames | None = None) -> None:
        super().__init__(parent)
        self._names = names
        self._listed: list[ModelRef] = []
        if names is not None:
            names.changed.connect(self._rename)
        self.menu = QMenu("&Model", parent)
        self.combo = QComboBox(parent)
        self.combo.setObjectName("modelChooser")
        self.combo.setAccessibleName("Model")
        self.combo.setMinimumContentsLength(28)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.combo.activated.connect(self._on_combo)
        self._tail = tail_actions
        self._models = QActionGroup(self)
        self.model_actions: dict[str, QAction] = {}
        self._refused: set[str] = set()
        self.keep_menu = QMenu("&Keep loaded", parent)
        self.keep_menu.setToolTip("Models kept in memory for instant switching, "
                                  "while free memory allows")
        keep_group = QActionGroup(self)
        self.keep_actions: dict[int, QAction] = {}
        for count in KEEP_CHOICES:
            label = "1 model (least memory)" if count == 1 else f"Up to {count} models"
            action = QAction(label, self, checkable=True)
            action.triggered.connect(lambda _c=False, n=count: self.keep_loaded_chosen.emit(n))
            keep_group.addAction(action)
            self.keep_menu.addAction(action)
            self.keep_actions[count] = action

    def rebuild(self, models: list[ModelRef], current_path: str | None,
                refused: set[str] = frozenset()) -> None:
        """``refused``: paths of models the policy does not allow."""
        self._refused = set(refused)
        self._listed = list(models)
        self._rebuild_combo(models)
        self.menu.clear()
        for action in self.model_actions.values():
            self._models.removeAction(action)
            action.deleteLater()
        self.model_actions = {}
        for ref in models:
            refused_here = str(ref.path) in self._refused
            action = QAction(self._menu_label(ref), self, checkable=True)
            action.setEnabled(not refused_here)
            action.setToolTip(plain_tip(f"{ref.path} ({format_size(ref.size_bytes)})"))
            action.setStatusTip(str(ref.path))
            action.triggered.connect(lambda _c=False, path=str(ref.path): self.model_chosen.emit(path))
            self._models.addAction(action)
            self.menu.addAction(action)
            self.model_actions[str(ref.path)] = action
        if not models:
            self.menu.addAction("No models installed yet").setEnabled(False)
        self.menu.addSeparator()
        for action in self._tail:
            self.menu.addAction(action)
        self.menu.addMenu(self.keep_menu)
        self.set_current(current_path)
        if self._names is not None:
            self._names.read(models)   # the GGUFs' own names, off the GUI thread

    def _name(self, ref: ModelRef) -> str:
        return self._names.name_of(ref) if self._names is not None else ref.name

    def _menu_label(self, ref: ModelRef) -> str:
        refused = str(ref.path) in self._refused
        return f"{self._name(ref)} — {NOT_ALLOWED}" if refused else self._name(ref)

    def _combo_label(self, ref: ModelRef) -> str:
        refused = str(ref.path) in self._refused
        return f"{self._name(ref)} ({NOT_ALLOWED})" if refused else self._name(ref)

    @Slot()
    def _rename(self) -> None:
        """Better names arrived: relabel in place (the choice and the menu stay as they are)."""
        for ref in self._listed:
            action = self.model_actions.get(str(ref.path))
            if action is not None:
                action.setText(self._menu_label(ref))
            index = self.combo.findData(str(ref.path))
            if index >= 0:
                self.combo.setItemText(index, self._combo_label(ref))

    def _rebuild_combo(self, models: list[ModelRef]) -> None:
        self.combo.clear()
        for ref in models:
            refused_here = str(ref.path) in self._refused
            self.combo.addItem(self._combo_label(ref), str(ref.path))
            index = self.combo.count() - 1
            self.combo.setItemData(index, plain_tip(str(ref.path)), Qt.ItemDataRole.ToolTipRole)
            if refused_here:
                self.combo.model().item(index).setEnabled(False)
        if not models:
            self.combo.addItem("No models yet — use “Open model file…”", None)

    def set_current(self, path: str | None) -> None:
        path = self._listed_path(path)
        for action_path, action in self.model_actions.items():
            action.setChecked(action_path == path)
        index = self.combo.findData(path) if path else -1
        if index >= 0 or not path:
            self.combo.setCurrentIndex(max(index, 0) if path else -1)

    def _listed_path(self, path: str | None) -> str | None:
        """The listed path of the same file (the engine reports symlinks resolved)."""
        if not path or path in self.model_actions:
            return path
        real = Path(path).resolve()
        return next((p for p in self.model_actions if Path(p).resolve() == real), path)

    def set_keep_loaded(self, count: int, *, locked: bool = False) -> None:
        action = self.keep_actions.get(count)
        if action is not None:
            action.setChecked(True)
        self.keep_menu.setEnabled(not locked)
        self.keep_menu.setTitle(f"&Keep loaded ({SET_BY_ORGANIZATION})" if locked
                                else "&Keep loaded")

    def set_enabled(self, enabled: bool) -> None:
        self.combo.setEnabled(enabled)
        for path, action in self.model_actions.items():
            action.setEnabled(enabled and path not in self._refused)

    @Slot(int)
    def _on_combo(self, index: int) -> None:
        path = self.combo.itemData(index)
        if path:
            self.model_chosen.emit(path)
