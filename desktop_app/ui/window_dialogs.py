"""The main window's secondary windows: model manager, preset editor, model details.

A mixin of ``MainWindow``: it uses the window's ``_services``, ``downloads``,
``listing``, ``bridge``, ``chat``, ``tasks`` and ``show_error``. The window hears of
model changes from the listing itself, not from the manager.
"""

from __future__ import annotations

from PySide6.QtCore import Qt


class WindowDialogs:
    model_manager = None  # the ModelManagerDialog, made on first use
    preset_editor = None  # the PresetEditorDialog, rebuilt when reopened

    def open_model_manager(self):
        """Show the (non-modal) model manager, creating it on first use."""
        if self.model_manager is None:
            from .model_manager import ModelManagerDialog

            self.model_manager = ModelManagerDialog(self._services, self.downloads,
                                                    self.listing, self)
        else:
            self.model_manager.refresh()
        self.model_manager.show()
        self.model_manager.raise_()
        self.model_manager.activateWindow()
        return self.model_manager

    def open_preset_editor(self):
        """Show the (non-modal) preset editor; a closed one is rebuilt from the files."""
        if self.preset_editor is None or not self.preset_editor.isVisible():
            from .preset_editor import PresetEditorDialog

            if self.preset_editor is not None:
                self.preset_editor.deleteLater()
            self._services.presets.reload()  # files may have changed outside the app
            self.preset_editor = PresetEditorDialog(
                self._services.presets, self._services.catalog,
                installed_ids=lambda: {ref.id for ref in self._services.models.models()},
                select=self.tasks.current(), parent=self)
            self.preset_editor.presets_changed.connect(self._on_presets_edited)
        self.preset_editor.show()
        self.preset_editor.raise_()
        self.preset_editor.activateWindow()
        return self.preset_editor

    def open_model_details(self):
        from .model_details import ModelDetailsDialog

        if self.chat.model is None:
            self.show_error("No model is loaded yet.")
            return None
        from .answer_signals import orchestration_rows

        last = next((m.stats for m in reversed(self.chat.path)
                     if m.role == "assistant" and m.stats), None)
        extra = orchestration_rows(last, self._services.escalation().describe())
        dialog = ModelDetailsDialog(self.chat.model, self.bridge.loaded_models, self,
                                    extra_rows=extra)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def _on_presets_edited(self) -> None:
        self._services.presets.reload()
        self.refresh_presets()
        current = self.chat.preset
        if current is not None:
            fresh = self._services.presets.get(current.id)
            if fresh is None:
                self.select_preset("")  # deleted: fall back to the default task
            else:
                self.chat.set_preset(fresh)

