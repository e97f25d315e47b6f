"""The model manager's Import: the file's GGUF header is read off the GUI thread first, so
only a real model file is offered "copy it in or use it where it is"; a file that is not
one gets its reason in words ("it is not a GGUF model file (it starts with other bytes)").

A mixin of ModelManagerDialog: it uses the dialog's services, error banner, Installed tab
and its ``import_finished`` / ``models_changed`` signals.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMessageBox

from ...core.errors import format_size
from ...core.gguf_inspect import inspect_gguf
from ..plain_text import question_box
from .common import BackgroundCall, file_size


class ImportActions:
    # -- import ------------------------------------------------------------------
    @Slot()
    def choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a GGUF model", str(Path.home()),
                                              "GGUF models (*.gguf);;All files (*)")
        if path:
            self.check_then_import(path)

    def check_then_import(self, path: str | Path) -> None:
        """Read the file's GGUF header off the GUI thread; only a model file is offered
        "copy or use in place" (a bad one gets its reason, and no question)."""
        self.clear_error()
        BackgroundCall.start(lambda: (str(path), inspect_gguf(Path(path))),
                             self._on_import_checked, self._on_import_failed_check)

    @Slot(str)
    def _on_import_failed_check(self, message: str) -> None:
        self.show_error(message)
        self.import_finished.emit("", message)

    @Slot(object)
    def _on_import_checked(self, result: tuple) -> None:
        path, info = result
        self.ask_copy_or_reference(path, info.name)

    def ask_copy_or_reference(self, path: str, name: str | None = None) -> None:
        shown = f"{name} ({Path(path).name})" if name else Path(path).name
        box = question_box(self, "Import model",
                           f"Copy {shown} ({format_size(file_size(path))}) into Scalpel's "
                           "models folder, or use it where it is?")
        copy = box.addButton("Copy into Scalpel's folder", QMessageBox.ButtonRole.AcceptRole)
        use = box.addButton("Use where it is", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(copy)
        box.exec()
        if box.clickedButton() in (copy, use):
            self.import_path(path, copy=box.clickedButton() is copy)

    def import_path(self, path: str | Path, copy: bool = True) -> None:
        """Validate and import off the GUI thread; import_finished reports the outcome."""
        self.clear_error()
        self._busy_imports += 1
        QGuiApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        self.installed_tab.import_button.setEnabled(False)
        library, models = self._services.library, self._services.models

        def import_and_list() -> str:  # the listing's change reaches the GUI before the result
            imported = library.import_file(Path(path), copy=copy)
            models.refresh()
            return str(imported)

        BackgroundCall.start(import_and_list, self._on_imported, self._on_import_failed)

    def _import_done(self) -> None:
        self._busy_imports -= 1
        QGuiApplication.restoreOverrideCursor()
        self.installed_tab.import_button.setEnabled(self._busy_imports == 0)

    @Slot(object)
    def _on_imported(self, path: str) -> None:
        self._import_done()
        self.refresh()
        self.installed_tab.select_path(path)
        self.tabs.setCurrentWidget(self.installed_tab)
        self.models_changed.emit()
        self.import_finished.emit(path, "")

    @Slot(str)
    def _on_import_failed(self, message: str) -> None:
        self._import_done()
        self.show_error(message)
        self.import_finished.emit("", message)
