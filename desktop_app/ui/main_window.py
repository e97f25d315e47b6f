"""The main window: task and model choosers, conversation, message box, status bar."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QMainWindow, QPushButton,
                               QToolBar, QVBoxLayout, QWidget)

from ..core.catalog import CatalogEntry
from ..core.engine import GenerationParams, ModelInfo
from ..core.errors import ScalpelError
from ..core.models import ModelRef
from ..core.presets import Preset
from ..core.services import Services
from .chat_controller import ChatController
from .conversation_view import ConversationView
from .download_bridge import DownloadBridge
from .engine_bridge import EngineBridge
from .error_banner import ErrorBanner
from .model_menu import ModelMenu
from .notice_bar import NoticeBar
from .prompt_input import PromptInput
from .status_line import StatusLine
from .task_menu import TaskMenu
from .task_switcher import TaskSwitcher


class MainWindow(QMainWindow):
    def __init__(self, services: Services, bridge: EngineBridge,
                 downloads: DownloadBridge) -> None:
        super().__init__()
        self._services = services
        self.bridge = bridge
        self.downloads = downloads
        self.model_manager = None  # the ModelManagerDialog, made on first use
        self.preset_editor = None  # the PresetEditorDialog, made on first use
        self._loading = False
        self.setWindowTitle("Scalpel")
        self.resize(920, 720)

        self.errors = ErrorBanner()
        self.notice = NoticeBar()
        self.view = ConversationView()
        self.prompt = PromptInput()
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.setAccessibleName("Send or stop")
        self.send_button.setDefault(True)
        self._build_central()
        self._build_toolbar_and_menus()
        self.status = StatusLine(self.statusBar())

        self.chat = ChatController(bridge, self.view, params=self._generation_params,
                                   report_error=self.show_error,
                                   restore_prompt=self._restore_prompt, parent=self)
        self.tasks_switcher = TaskSwitcher(
            services, bridge, self.chat, self.notice, download=self._download_entry,
            report_error=self.show_error, parent=self)
        self.tasks_switcher.preset_changed.connect(self._on_preset_changed)
        self.tasks_switcher.model_request_queued.connect(self.status.show_queued)
        self.tasks.preset_chosen.connect(self.select_preset)
        self.tasks.edit_requested.connect(lambda: self.open_preset_editor())
        self.models_menu.model_chosen.connect(self._on_model_path_chosen)
        self.models_menu.keep_loaded_chosen.connect(self._set_keep_loaded)
        self.refresh_presets()
        self.prompt.submitted.connect(self._send)
        self.send_button.clicked.connect(self._send_or_stop)
        self.chat.answering_changed.connect(self._on_answering_changed)
        self.chat.reply_stats.connect(self.status.show_reply)
        bridge.model_loading.connect(self._on_model_loading)
        bridge.model_loaded.connect(self._on_model_loaded)
        bridge.model_load_failed.connect(self._on_model_load_failed)
        self.downloads.model_installed.connect(self._on_models_changed)
        self.refresh_models()
        self._update_controls()

    # -- layout ----------------------------------------------------------------
    def _build_central(self) -> None:
        input_row = QHBoxLayout()
        input_row.addWidget(self.prompt, 1)
        input_row.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)
        layout = QVBoxLayout()
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(self.errors)
        layout.addWidget(self.notice)
        layout.addWidget(self.view, 1)
        layout.addLayout(input_row)
        central = QWidget()
        central.setLayout(layout)
        self.setCentralWidget(central)

    def _build_toolbar_and_menus(self) -> None:
        self.open_action = QAction("&Open model file…", self)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.triggered.connect(lambda: self.open_model_file())
        self.new_chat_action = QAction("&New chat", self)
        self.new_chat_action.setShortcut(QKeySequence.StandardKey.New)
        self.new_chat_action.triggered.connect(self.chat_new)
        self.stop_action = QAction("&Stop answer", self)
        self.stop_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.stop_action.triggered.connect(lambda: self.chat.stop())
        self.models_action = QAction("&Models…", self)
        self.models_action.setShortcut(QKeySequence("Ctrl+M"))
        self.models_action.setToolTip("Download, import and delete models (Ctrl+M)")
        self.models_action.triggered.connect(lambda: self.open_model_manager())
        self.details_action = QAction("Model &details…", self)
        self.details_action.setShortcut(QKeySequence("Ctrl+I"))
        self.details_action.triggered.connect(lambda: self.open_model_details())
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        self.tasks = TaskMenu(self)
        self.models_menu = ModelMenu(self, tail_actions=[
            self.open_action, self.models_action, self.details_action])
        self.model_combo = self.models_menu.combo
        toolbar = QToolBar("Task and model")
        toolbar.setMovable(False)
        toolbar.addWidget(QLabel(" Task: "))
        toolbar.addWidget(self.tasks.combo)
        toolbar.addWidget(QLabel("  Model: "))
        toolbar.addWidget(self.model_combo)
        toolbar.addAction(self.open_action)
        toolbar.addAction(self.models_action)
        toolbar.addAction(self.new_chat_action)
        self.addToolBar(toolbar)

        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.models_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        chat_menu = self.menuBar().addMenu("&Chat")
        chat_menu.addAction(self.new_chat_action)
        chat_menu.addAction(self.stop_action)
        self.menuBar().addMenu(self.tasks.menu)
        self.menuBar().addMenu(self.models_menu.menu)

    # -- models ----------------------------------------------------------------
    def refresh_models(self, select_path: str | None = None) -> None:
        current = select_path or (self.chat.model.path if self.chat.model else None)
        self.models_menu.rebuild(self._services.registry.list(), current)
        self.models_menu.set_keep_loaded(self._services.settings.keep_models_loaded)

    def refresh_presets(self) -> None:
        self.tasks.rebuild(self._services.presets.list())
        self.tasks.set_current(self.chat.preset.id if self.chat.preset else None)

    @Slot()
    def _on_models_changed(self, *_args) -> None:
        self.refresh_models()
        self.tasks_switcher.models_changed()

    def open_model_manager(self):
        """Show the (non-modal) model manager, creating it on first use."""
        if self.model_manager is None:
            from .model_manager import ModelManagerDialog

            self.model_manager = ModelManagerDialog(self._services, self.downloads, self)
            self.model_manager.models_changed.connect(self._on_models_changed)
        else:
            self.model_manager.refresh()
        self.model_manager.show()
        self.model_manager.raise_()
        self.model_manager.activateWindow()
        return self.model_manager

    def open_preset_editor(self):
        """Show the (non-modal) preset editor, creating it on first use."""
        if self.preset_editor is None:
            from .preset_editor import PresetEditorDialog

            self.preset_editor = PresetEditorDialog(
                self._services.presets, self._services.catalog,
                installed_ids=lambda: {ref.id for ref in self._services.registry.list()},
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
        dialog = ModelDetailsDialog(self.chat.model, self.bridge.loaded_models, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def start(self, initial_model: ModelRef | None = None) -> None:
        """Apply the last task and load its model (or ``initial_model``) in the background."""
        preset = self._services.current_preset()
        self.tasks_switcher.apply_preset(preset.id if preset else "", model=initial_model)

    def select_preset(self, preset_id: str) -> None:
        self.tasks_switcher.apply_preset(preset_id)

    def load_model(self, ref: ModelRef) -> None:
        self.tasks_switcher.request_model(ref)

    @Slot(object)
    def _on_preset_changed(self, preset: Preset) -> None:
        self.tasks.set_current(preset.id)
        self.prompt.setPlaceholderText(
            f"{preset.name}: {preset.description} (Enter sends, Shift+Enter adds a line)")

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

    def _download_entry(self, entry: CatalogEntry) -> None:
        self.open_model_manager().download_catalog_entry(entry.id)

    def _set_keep_loaded(self, count: int) -> None:
        self._services.settings.keep_models_loaded = count
        self._services.settings_store.save(self._services.settings)
        self.bridge.set_keep_loaded(count)

    def open_model_file(self, path: str | None = None) -> None:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self, "Open a GGUF model", str(Path.home()), "GGUF models (*.gguf);;All files (*)")
            if not path:
                return
        try:
            ref = self._services.registry.resolve(path)
        except ScalpelError as exc:
            self.show_error(str(exc))
            return
        self.load_model(ref)

    @Slot(str)
    def _on_model_path_chosen(self, path: str | None) -> None:
        if not path or (self.chat.model and self.chat.model.path == path):
            return
        self.open_model_file(path)

    @Slot(str)
    def _on_model_loading(self, path: str) -> None:
        self._set_loading(True)
        self.status.set_loading(self._display_name(path))
        self._update_controls()

    def _display_name(self, path: str) -> str:
        for ref in self._services.registry.list():
            if str(ref.path) == path:
                return ref.name
        return Path(path).name

    @Slot(object)
    def _on_model_loaded(self, info: ModelInfo) -> None:
        self._set_loading(False)
        self.chat.set_model(info)
        self.errors.hide()
        try:
            self._services.remember_model(self._services.registry.resolve(info.path))
        except (ScalpelError, OSError):
            pass  # remembering is a convenience; the model is loaded either way
        self.refresh_models(select_path=info.path)
        self.status.show_model(info)
        self.setWindowTitle(f"Scalpel — {info.name}")
        self._update_controls()

    @Slot(str, str)
    def _on_model_load_failed(self, path: str, message: str) -> None:
        self._set_loading(False)
        self.show_error(message)
        current = self.chat.model
        self.status.show_still_loaded(current)
        self.models_menu.set_current(current.path if current else None)
        self._update_controls()

    # -- chat ------------------------------------------------------------------
    def _generation_params(self) -> GenerationParams:
        s = self._services.settings
        return GenerationParams(max_tokens=s.max_tokens, temperature=s.temperature)

    @Slot(str)
    def _send(self, text: str) -> None:
        if self.chat.send(text):
            self.prompt.take_text()
            self.errors.hide()

    @Slot()
    def _send_or_stop(self) -> None:
        if self.chat.answering:
            self.chat.stop()
        else:
            self._send(self.prompt.toPlainText())

    def chat_new(self) -> None:
        self.chat.new_chat()
        self.prompt.setFocus()

    def _restore_prompt(self, text: str) -> None:
        if not self.prompt.toPlainText().strip():
            self.prompt.setPlainText(text)

    @Slot(bool)
    def _on_answering_changed(self, answering: bool) -> None:
        self.send_button.setText("Stop" if answering else "Send")
        if answering:
            self.status.show_answering()
        self._update_controls()

    def _set_loading(self, loading: bool) -> None:
        self._loading = loading
        if not loading:
            self.status.set_loading(None)

    @property
    def loading(self) -> bool:
        return self._loading

    def _update_controls(self) -> None:
        loading = self._loading
        answering = self.chat.answering
        self.models_menu.set_enabled(not loading and not answering)
        self.open_action.setEnabled(not loading and not answering)
        self.details_action.setEnabled(self.chat.model is not None)
        self.send_button.setEnabled(answering or (self.chat.model is not None and not loading))
        self.stop_action.setEnabled(answering)

    def show_error(self, message: str) -> None:
        self.errors.show_message(message)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt naming
        for dialog in (self.model_manager, self.preset_editor):
            if dialog is not None:
                dialog.close()
        self.downloads.shutdown()
        self.bridge.shutdown()
        super().closeEvent(event)
