"""The main window: model chooser, conversation, message box, status bar."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QMainWindow,
                               QProgressBar, QPushButton, QSizePolicy, QToolBar, QVBoxLayout,
                               QWidget)

from ..core.engine import GenerationParams, ModelInfo, ReplyStats
from ..core.errors import ScalpelError
from ..core.models import ModelRef
from ..core.services import Services
from .chat_controller import ChatController
from .conversation_view import ConversationView
from .download_bridge import DownloadBridge
from .engine_bridge import EngineBridge
from .error_banner import ErrorBanner
from .prompt_input import PromptInput


class MainWindow(QMainWindow):
    def __init__(self, services: Services, bridge: EngineBridge,
                 downloads: DownloadBridge) -> None:
        super().__init__()
        self._services = services
        self.bridge = bridge
        self.downloads = downloads
        self.model_manager = None  # the ModelManagerDialog, made on first use
        self._loading = False
        self.setWindowTitle("Scalpel")
        self.resize(920, 720)

        self.errors = ErrorBanner()
        self.view = ConversationView()
        self.prompt = PromptInput()
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.setAccessibleName("Send or stop")
        self.send_button.setDefault(True)
        self._build_central()
        self._build_toolbar_and_menus()
        self._build_status_bar()

        self.chat = ChatController(bridge, self.view, params=self._generation_params,
                                   report_error=self.show_error,
                                   restore_prompt=self._restore_prompt, parent=self)
        self.prompt.submitted.connect(self._send)
        self.send_button.clicked.connect(self._send_or_stop)
        self.chat.answering_changed.connect(self._on_answering_changed)
        self.chat.reply_stats.connect(self._show_reply_stats)
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
        layout.addWidget(self.view, 1)
        layout.addLayout(input_row)
        central = QWidget()
        central.setLayout(layout)
        self.setCentralWidget(central)

    def _build_toolbar_and_menus(self) -> None:
        self.model_combo = QComboBox()
        self.model_combo.setObjectName("modelChooser")
        self.model_combo.setAccessibleName("Model")
        self.model_combo.setMinimumContentsLength(28)
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_combo.activated.connect(self._on_model_chosen)
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
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)

        self.loading_bar = QProgressBar()
        self.loading_bar.setRange(0, 0)
        self.loading_bar.setMaximumWidth(120)
        self.loading_bar.setAccessibleName("Loading model")
        toolbar = QToolBar("Model")
        toolbar.setMovable(False)
        toolbar.addWidget(QLabel(" Model: "))
        toolbar.addWidget(self.model_combo)
        toolbar.addAction(self.open_action)
        toolbar.addAction(self.models_action)
        toolbar.addAction(self.new_chat_action)
        self.loading_action = toolbar.addWidget(self.loading_bar)
        self.loading_action.setVisible(False)
        self.addToolBar(toolbar)

        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.models_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        chat_menu = self.menuBar().addMenu("&Chat")
        chat_menu.addAction(self.new_chat_action)
        chat_menu.addAction(self.stop_action)

    def _build_status_bar(self) -> None:
        self.status_model = QLabel("No model loaded")
        self.status_speed = QLabel("")
        self.status_ttft = QLabel("")
        self.status_context = QLabel("")
        for label in (self.status_speed, self.status_ttft, self.status_context):
            label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        self.statusBar().addWidget(self.status_model, 1)
        for label in (self.status_speed, self.status_ttft, self.status_context):
            self.statusBar().addPermanentWidget(label)

    # -- models ----------------------------------------------------------------
    def refresh_models(self, select_path: str | None = None) -> None:
        current = select_path or (self.chat.model.path if self.chat.model else None)
        self.model_combo.clear()
        for ref in self._services.registry.list():
            self.model_combo.addItem(ref.name, str(ref.path))
            self.model_combo.setItemData(self.model_combo.count() - 1, str(ref.path),
                                         Qt.ItemDataRole.ToolTipRole)
        if self.model_combo.count() == 0:
            self.model_combo.addItem("No models yet — use “Open model file…”", None)
        self._select_in_combo(current)

    @Slot()
    def _on_models_changed(self, *_args) -> None:
        self.refresh_models()

    def _select_in_combo(self, path: str | None) -> None:
        index = self.model_combo.findData(path) if path else -1
        if index < 0 and path:
            return
        self.model_combo.setCurrentIndex(max(index, 0) if path else -1)

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

    def load_model(self, ref: ModelRef) -> None:
        if self.bridge.busy:
            self.show_error("Wait for the current answer or model load to finish, or press Stop.")
            return
        self.bridge.load(str(ref.path), self._services.load_options(), ref.name)

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

    @Slot(int)
    def _on_model_chosen(self, index: int) -> None:
        path = self.model_combo.itemData(index)
        if not path or (self.chat.model and self.chat.model.path == path):
            return
        self.open_model_file(path)

    @Slot(str)
    def _on_model_loading(self, path: str) -> None:
        self._set_loading(True)
        self.status_model.setText(f"Loading {Path(path).name}…")
        self._update_controls()

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
        note = "" if info.chat_template == "embedded" else f" · template {info.chat_template}"
        self.status_model.setText(
            f"{info.name} · {info.quantization} · context {info.context_size:,} · "
            f"{info.n_threads} thread{'s' if info.n_threads != 1 else ''}{note}")
        self.setWindowTitle(f"Scalpel — {info.name}")
        self._update_controls()

    @Slot(str, str)
    def _on_model_load_failed(self, path: str, message: str) -> None:
        self._set_loading(False)
        self.show_error(message)
        current = self.chat.model
        self.status_model.setText(f"{current.name} (still loaded)" if current else "No model loaded")
        self._select_in_combo(current.path if current else None)
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
            self.status_speed.setText("answering…")
        self._update_controls()

    @Slot(object)
    def _show_reply_stats(self, stats: ReplyStats) -> None:
        self.status_speed.setText(f"{stats.decode_tokens_per_s:.1f} tok/s")
        self.status_ttft.setText(f"first token {stats.time_to_first_token_s:.2f} s")
        self.status_context.setText(f"context {stats.context_used:,} / {stats.context_size:,}")

    def _set_loading(self, loading: bool) -> None:
        self._loading = loading
        self.loading_action.setVisible(loading)

    @property
    def loading(self) -> bool:
        return self._loading

    def _update_controls(self) -> None:
        loading = self._loading
        answering = self.chat.answering
        self.model_combo.setEnabled(not loading and not answering)
        self.open_action.setEnabled(not loading and not answering)
        self.send_button.setEnabled(answering or (self.chat.model is not None and not loading))
        self.stop_action.setEnabled(answering)

    def show_error(self, message: str) -> None:
        self.errors.show_message(message)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt naming
        if self.model_manager is not None:
            self.model_manager.close()
        self.downloads.shutdown()
        self.bridge.shutdown()
        super().closeEvent(event)
