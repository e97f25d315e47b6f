"""The preset editor: list the presets, edit your own, duplicate or delete them.

Built-in (and organization-shipped) presets are shown read-only; duplicating
one gives an editable copy. Saving goes through ``PresetStore.save``, which
validates the preset, checks its JSON schema and writes
``<config>/presets/<id>.json``. Errors show in a banner and never clear the form.
"""

from __future__ import annotations

import logging
from typing import Callable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QMessageBox, QPushButton,
    QSplitter, QVBoxLayout, QWidget,
)

from ...core.catalog import Catalog
from ...core.errors import PresetError, ScalpelError
from ...core.preset_store import PresetStore
from ...core.presets import Preset
from ..error_banner import ErrorBanner
from ..plain_text import ask, plain_tip
from .form import FIELD_LABELS, FormError, PresetForm
from ..preset_icons import preset_icon

log = logging.getLogger(__name__)

PRESET_ID_ROLE = Qt.ItemDataRole.UserRole
NEW_PRESET_NAME = "New preset"
READ_ONLY_NOTE = "Built-in presets are read-only. Duplicate one to make your own."


def _button(text: str, accessible: str) -> QPushButton:
    button = QPushButton(text)
    button.setAccessibleName(accessible)
    button.setAutoDefault(False)  # Enter in a text field must not save or close
    return button


class PresetEditorDialog(QDialog):
    presets_changed = Signal()

    def __init__(self, store: PresetStore, catalog: Catalog, *,
                 installed_ids: Callable[[], set[str]] = set, select: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("presetEditor")
        self.setWindowTitle("Presets")
        self.resize(900, 620)
        self._store = store
        self._current: Preset | None = None
        self._snapshot: tuple | None = None
        self._switching = False

        self.banner = ErrorBanner(self)
        self.preset_list = QListWidget()
        self.preset_list.setAccessibleName("Presets")
        self.preset_list.setIconSize(QSize(20, 20))
        self.new_button = _button("New", "New preset")
        self.duplicate_button = _button("Duplicate", "Duplicate preset")
        self.delete_button = _button("Delete", "Delete preset")

        self.form = PresetForm(catalog, installed_ids)
        self.read_only_note = QLabel(READ_ONLY_NOTE)
        self.read_only_note.setObjectName("readOnlyNote")
        self.read_only_note.setAccessibleName("Read-only note")
        self.read_only_note.setStyleSheet(
            "#readOnlyNote { background: palette(alternate-base); border-radius: 4px; "
            "padding: 4px 8px; }")
        self.save_button = _button("Save", "Save preset")
        self.revert_button = _button("Revert", "Revert changes")
        self.close_button = _button("Close", "Close preset editor")

        self._lay_out()
        self.preset_list.currentItemChanged.connect(self._on_current_changed)
        self.new_button.clicked.connect(self.new_preset)
        self.duplicate_button.clicked.connect(self.duplicate_current)
        self.delete_button.clicked.connect(self.delete_current)
        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(self.revert)
        self.close_button.clicked.connect(self.close)
        self.form.changed.connect(self._update_buttons)
        QShortcut(QKeySequence.StandardKey.Save, self, activated=self._save_shortcut)

        self._fill_list(select)
        if store.problems:
            self.banner.show_message("Some preset files were skipped:\n"
                                     + "\n".join(f"• {p}" for p in store.problems))

    def _lay_out(self) -> None:
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.preset_list, 1)
        row = QHBoxLayout()
        for button in (self.new_button, self.duplicate_button, self.delete_button):
            row.addWidget(button)
        left_layout.addLayout(row)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.read_only_note)
        right_layout.addWidget(self.form, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([250, 650])
        splitter.setChildrenCollapsible(False)

        bottom = QHBoxLayout()
        bottom.addStretch(1)
        for button in (self.save_button, self.revert_button, self.close_button):
            bottom.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)

    # -- the list -------------------------------------------------------------------
    def _fill_list(self, select: str | None) -> None:
        """Rebuild the list and show ``select`` (else the current preset, else the first)."""
        keep = select or (self._current.id if self._current is not None else None)
        self._switching = True
        try:
            self.preset_list.clear()
            for preset in self._store.list():
                item = QListWidgetItem(preset_icon(preset.icon),
                                       f"{preset.name}  (built-in)" if preset.builtin
                                       else preset.name)
                item.setData(PRESET_ID_ROLE, preset.id)
                item.setToolTip(plain_tip(preset.description or preset.name))
                self.preset_list.addItem(item)
            row = self._row_of(keep)
            if row < 0 and self.preset_list.count():
                row = 0
            self.preset_list.setCurrentRow(row)
        finally:
            self._switching = False
        item = self.preset_list.currentItem()
        self._show(self._store.get(item.data(PRESET_ID_ROLE)) if item is not None else None)

    def _row_of(self, preset_id: str | None) -> int:
        for row in range(self.preset_list.count()):
            if self.preset_list.item(row).data(PRESET_ID_ROLE) == preset_id:
                return row
        return -1

    def _on_current_changed(self, current: QListWidgetItem | None,
                            previous: QListWidgetItem | None) -> None:
        if self._switching:
            return
        new_id = current.data(PRESET_ID_ROLE) if current is not None else None
        if self._current is not None and new_id == self._current.id:
            return
        if not self._may_discard():
            self._switching = True  # put the selection back without asking again
            self.preset_list.setCurrentItem(previous)
            self._switching = False
            return
        self._show(self._store.get(new_id) if new_id else None)

    def _show(self, preset: Preset | None) -> None:
        self._current = preset
        if preset is not None:
            self.form.load(preset, read_only=preset.builtin)
        self.form.setEnabled(preset is not None)
        self.read_only_note.setVisible(preset is not None and preset.builtin)
        self._snapshot = self.form.values()
        self._update_buttons()

    def _update_buttons(self) -> None:
        have = self._current is not None
        editable = have and not self._current.builtin
        dirty = self.is_dirty()
        self.save_button.setEnabled(editable and dirty)
        self.revert_button.setEnabled(editable and dirty)
        self.delete_button.setEnabled(editable)
        self.duplicate_button.setEnabled(have)
        name = self._current.name if have else ""
        self.setWindowTitle(f"Presets — {name}{' *' if dirty else ''}" if have else "Presets")

    # -- changes ----------------------------------------------------------------------
    def is_dirty(self) -> bool:
        return (self._current is not None and not self._current.builtin
                and self.form.values() != self._snapshot)

    def _may_discard(self) -> bool:
        """True when nothing is unsaved or the person agrees to drop the edits."""
        if not self.is_dirty():
            return True
        if not self._confirm("Unsaved changes",
                             f"Discard changes to {self._current.name}?"):
            return False
        self.revert()
        return True

    def _confirm(self, title: str, text: str) -> bool:
        answer = ask(self, title, text,
                     QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                     QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _fail(self, exc: Exception) -> None:
        field = getattr(exc, "field", None)
        if isinstance(exc, PresetError) and field in FIELD_LABELS:
            message = f"{FIELD_LABELS[field]}: {exc.reason}"
        elif isinstance(exc, OSError):
            message = f"The preset could not be written: {exc.strerror or exc}"
        else:
            message = str(exc)
        self.banner.show_message(message)
        self.form.focus_field(field)

    def _changed(self, select: str | None) -> None:
        self.banner.hide()
        self._fill_list(select)
        self.presets_changed.emit()

    def _save_shortcut(self) -> None:
        if self.save_button.isEnabled():
            self.save()

    def save(self) -> Preset | None:
        if self._current is None:
            return None
        if self._current.builtin:
            self.banner.show_message(READ_ONLY_NOTE)
            return None
        try:
            preset = self.form.build(self._current)
            saved = self._store.save(preset)
        except (FormError, ScalpelError, OSError) as exc:
            self._fail(exc)
            return None
        self._current = saved
        self._snapshot = self.form.values()
        self._changed(saved.id)
        return saved

    def revert(self) -> None:
        self.banner.hide()
        if self._current is not None:
            self._show(self._store.get(self._current.id) or self._current)

    def duplicate_current(self) -> Preset | None:
        if self._current is None or not self._may_discard():
            return None
        return self._create(lambda: self._store.duplicate(self._current.id))

    def new_preset(self) -> Preset | None:
        if not self._may_discard():
            return None
        return self._create(lambda: self._store.save(
            Preset(id=self._store.free_id(NEW_PRESET_NAME), name=NEW_PRESET_NAME)))

    def _create(self, make: Callable[[], Preset]) -> Preset | None:
        try:
            preset = make()
        except (ScalpelError, OSError) as exc:
            self._fail(exc)
            return None
        self._current = None  # the new one is selected without asking about the old one
        self._changed(preset.id)
        self.form.focus_field("name")
        self.form.name.selectAll()
        return preset

    def delete_current(self) -> bool:
        preset = self._current
        if preset is None or preset.builtin:
            return False
        if not self._confirm("Delete preset",
                             f"Delete the preset “{preset.name}”? This cannot be undone."):
            return False
        row = self.preset_list.currentRow()
        try:
            self._store.delete(preset.id)
        except (ScalpelError, OSError) as exc:
            self._fail(exc)
            return False
        self._current = None
        # a user file may have shadowed a built-in with the same id: show that one then
        fallback = preset.id if self._store.get(preset.id) is not None else None
        if fallback is None and self.preset_list.count() > 1:
            neighbour = self.preset_list.item(row + 1 if row + 1 < self.preset_list.count()
                                              else row - 1)
            fallback = neighbour.data(PRESET_ID_ROLE)
        self._changed(fallback)
        return True

    # -- closing ----------------------------------------------------------------------
    def reject(self) -> None:  # Escape
        if self._may_discard():
            super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._may_discard():
            super().closeEvent(event)
        else:
            event.ignore()

    # -- what is shown (the window reads it; so do tests) ---------------------------
    def select_preset(self, preset_id: str) -> bool:
        row = self._row_of(preset_id)
        if row >= 0:
            self.preset_list.setCurrentRow(row)
        return self.current_id() == preset_id

    def current_id(self) -> str | None:
        return self._current.id if self._current is not None else None

    def error_text(self) -> str:
        return self.banner.message()

    def is_read_only(self) -> bool:
        return self._current is None or self.form.is_read_only()
