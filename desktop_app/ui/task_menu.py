"""The Task menu and the toolbar's task selector: two views of the current preset.

Ctrl+1 … Ctrl+9 pick the first nine presets. Choosing one emits
``preset_chosen(id)``; the window decides what that means (prompt, sampling,
model) and calls ``set_current`` back.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QComboBox, QMenu, QWidget

from ..core.presets import Preset
from .plain_text import plain_tip
from .preset_icons import preset_icon

SHORTCUT_COUNT = 9


class TaskMenu(QObject):
    preset_chosen = Signal(str)
    edit_requested = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.menu = QMenu("&Task", parent)
        self.combo = QComboBox(parent)
        self.combo.setObjectName("taskChooser")
        self.combo.setAccessibleName("Task")
        self.combo.setToolTip("What the assistant is for: its instructions, settings and model "
                              "(Ctrl+1 … Ctrl+9)")
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.combo.activated.connect(self._on_combo)
        self._group = QActionGroup(self)
        self._group.setExclusive(True)
        self.actions: dict[str, QAction] = {}
        self.edit_action = QAction("&Edit presets…", self)
        self.edit_action.triggered.connect(self.edit_requested)
        self._current: str | None = None

    def rebuild(self, presets: list[Preset]) -> None:
        self.menu.clear()
        self.combo.clear()
        for action in self.actions.values():
            self._group.removeAction(action)
            action.deleteLater()
        self.actions = {}
        for index, preset in enumerate(presets):
            action = QAction(preset_icon(preset.icon), preset.name, self)
            action.setCheckable(True)
            action.setToolTip(plain_tip(preset.description))
            action.setStatusTip(preset.description)
            if index < SHORTCUT_COUNT:
                action.setShortcut(QKeySequence(f"Ctrl+{index + 1}"))
                action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(lambda _checked=False, pid=preset.id: self._choose(pid))
            self._group.addAction(action)
            self.menu.addAction(action)
            self.actions[preset.id] = action
            self.combo.addItem(preset_icon(preset.icon), preset.name, preset.id)
            self.combo.setItemData(index, plain_tip(preset.description),
                                   Qt.ItemDataRole.ToolTipRole)
        self.menu.addSeparator()
        self.menu.addAction(self.edit_action)
        if self._current:
            self.set_current(self._current)

    def set_current(self, preset_id: str | None) -> None:
        self._current = preset_id
        action = self.actions.get(preset_id or "")
        if action is not None:
            action.setChecked(True)
        index = self.combo.findData(preset_id) if preset_id else -1
        self.combo.setCurrentIndex(index)

    def current(self) -> str | None:
        return self._current

    def set_enabled(self, enabled: bool) -> None:
        self.combo.setEnabled(enabled)
        for action in self.actions.values():
            action.setEnabled(enabled)

    def _choose(self, preset_id: str) -> None:
        if preset_id != self._current:
            self.preset_chosen.emit(preset_id)
        else:
            self.set_current(preset_id)

    @Slot(int)
    def _on_combo(self, index: int) -> None:
        preset_id = self.combo.itemData(index)
        if preset_id:
            self._choose(preset_id)
