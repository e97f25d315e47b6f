"""The main window: task and model choosers, conversation, message box, status bar."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QToolBar, QVBoxLayout, QWidget

from ..core.catalog import CatalogEntry
from ..core.engine import ModelInfo
from ..core.errors import ScalpelError
from ..core.models import ModelRef
from ..core.presets import Preset
from ..core.services import Services
from .accessibility import describe as describe_controls, install as install_accessibility
from .api_panel import ApiPanel
from .chat_panel import ChatPanel
from .download_bridge import DownloadBridge
from .error_banner import ErrorBanner
from .file_dialogs import FolderMemory
from .help_menu import install_help_menu
from .managed import ManagedBadge
from .model_listing_bridge import ModelListingBridge
from .model_manager.names import ModelNames
from .model_menu import ModelMenu
from .notice_bar import NoticeBar
from .orchestration_ui import install_orchestration
from .documents import install_documents
from .session_bridge import SessionBridge
from .settings import install_settings_menu
from .status_line import StatusLine
from .task_menu import TaskMenu
from .task_switcher import TaskSwitcher
from .window_dialogs import WindowDialogs
from .window_state import restore_window_state, save_window_state

log = logging.getLogger(__name__)


class MainWindow(WindowDialogs, QMainWindow):
    def __init__(self, services: Services, bridge: SessionBridge,
                 downloads: DownloadBridge, listing: ModelListingBridge) -> None:
        super().__init__()
        self._services = services
        self.bridge = bridge
        self.downloads = downloads
        self.listing = listing
        self._loading = False
        self._restarting = False
        self._load_error: str | None = None  # shown by a failed load, until a load succeeds
        self.setWindowTitle("Scalpel")
        self.resize(1100, 740)

        self.errors = ErrorBanner()
        self.notice = NoticeBar()
        self.panel = ChatPanel(bridge, report_error=self.show_error)
        self.chat, self.view = self.panel.chat, self.panel.view
        self.prompt, self.send_button = self.panel.prompt, self.panel.send_button
        self.folders = FolderMemory.in_settings(services)  # every file dialog starts here
        self.panel.files.configure(announce=self._announce, folders=self.folders)
        self._build_central()
        self._build_toolbar_and_menus()
        self.status = StatusLine(self.statusBar())
        self.managed_badge = ManagedBadge(services.policy, services.model_gate.unresolved)
        self.statusBar().addPermanentWidget(self.managed_badge)
        self.api_panel = ApiPanel(self, services)  # the API menu; stops the API on close
        self.settings_menu = install_settings_menu(self, services)  # File > Settings…
        self.help_menu = install_help_menu(self, services)
        self.orchestration = install_orchestration(self, services)  # Chat menu, consent
        self.documents = install_documents(self, services)  # Chat ▸ Documents…, attachments
        self.tasks_switcher = TaskSwitcher(
            services, bridge, self.chat, self.notice, download=self._download_entry,
            report_error=self.show_error, parent=self)
        self.tasks_switcher.preset_changed.connect(self._on_preset_changed)
        self.tasks_switcher.model_changed_notice.connect(self._show_model_notice)
        bridge.model_queued.connect(self.status.show_queued)
        self.tasks.preset_chosen.connect(self.select_preset)
        self.tasks.edit_requested.connect(lambda: self.open_preset_editor())
        self.models_menu.model_chosen.connect(self._on_model_path_chosen)
        self.models_menu.keep_loaded_chosen.connect(self._set_keep_loaded)
        self.refresh_presets()
        self.panel.chat_opened.connect(self._on_chat_opened)
        self.view.copied.connect(lambda text: self.statusBar().showMessage(text, 2000))
        self.chat.answering_changed.connect(self._on_answering_changed)
        self.chat.reply_stats.connect(self.status.show_reply)
        self.chat.chat_stats.connect(self.status.show_chat_figures)
        bridge.notice.connect(self.show_error)
        bridge.model_loading.connect(self._on_model_loading)
        bridge.engine_restarting.connect(self._on_engine_restarting)
        for done in (bridge.text_ready, bridge.reply_finished, bridge.reply_failed):
            done.connect(self._engine_back)
        bridge.model_loaded.connect(self._on_model_loaded)
        bridge.unloaded.connect(self._on_unloaded)
        bridge.model_load_failed.connect(self._on_model_load_failed)
        self.listing.changed.connect(self._on_models_changed)
        self.downloads.model_installed.connect(self._on_models_changed)  # listed before "done"
        self._unsubscribe_settings = services.settings_service.subscribe(self._on_settings_changed)
        self.listing.wait()  # the first listing, walked on its worker while this was built
        self.refresh_models()
        self._update_controls()
        self.model_combo.setAccessibleName("Model")
        install_accessibility()  # each window's controls described as it becomes active
        describe_controls(self)
        restore_window_state(self, self.panel, services.settings)
        self.prompt.setFocus()  # a person who starts typing types a question

    # -- layout ----------------------------------------------------------------
    def _build_central(self) -> None:
        layout = QVBoxLayout()
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(self.errors)
        layout.addWidget(self.notice)
        layout.addWidget(self.panel, 1)
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
        self.stop_action.triggered.connect(lambda: self.panel.cancel_edit_or_stop())
        self.models_action = QAction("&Models…", self)
        self.models_action.setShortcut(QKeySequence("Ctrl+M"))
        self.models_action.setToolTip("Download, import and delete models (Ctrl+M)")
        self.models_action.triggered.connect(lambda: self.open_model_manager())
        self.details_action = QAction("Model &details…", self)
        self.details_action.setShortcut(QKeySequence("Ctrl+I"))
        self.details_action.triggered.connect(lambda: self.open_model_details())
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        quit_action.triggered.connect(self.close)
        self.tasks = TaskMenu(self)
        self.unload_action = QAction("&Unload model (free its memory)", self)
        self.unload_action.setShortcut(QKeySequence("Ctrl+Shift+U"))
        self.unload_action.triggered.connect(self.unload_model)
        self.models_menu = ModelMenu(self, tail_actions=[
            self.open_action, self.models_action, self.details_action, self.unload_action],
            names=ModelNames(self._services, self))
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
        for text, keys, slot in (
                ("&Search chats", "Ctrl+F", lambda: self.panel.sidebar.focus_search()),
                ("&Copy last answer", "Ctrl+Shift+C", self.copy_last_answer)):
            action = chat_menu.addAction(text, slot)
            action.setShortcut(QKeySequence(keys))
        chat_menu.addSeparator()
        files = self.panel.files
        chat_menu.addAction("Export as &Markdown…",
                            lambda: files.export_chat(self.chat.chat_id, "md"))
        chat_menu.addAction("Export as &JSON…",
                            lambda: files.export_chat(self.chat.chat_id, "json"))
        chat_menu.addAction("&Import chats…", self.import_chats)
        chat_menu.addAction("&Back up all chats…", lambda: files.export_everything())
        view_menu = self.menuBar().addMenu("&View")
        self.sidebar_action = view_menu.addAction("Show chat &list")
        self.sidebar_action.setCheckable(True)
        self.sidebar_action.setChecked(True)
        self.sidebar_action.setShortcut(QKeySequence("Ctrl+B"))
        self.sidebar_action.toggled.connect(self.panel.set_sidebar_shown)
        self.panel.sidebar_toggled.connect(self.sidebar_action.setChecked)
        self.menuBar().addMenu(self.tasks.menu)
        self.menuBar().addMenu(self.models_menu.menu)
        chain = (self.tasks.combo, self.model_combo, *self.panel.tab_chain)  # as on screen
        for first, second in zip(chain, chain[1:]):
            QWidget.setTabOrder(first, second)

    # -- models ----------------------------------------------------------------
    def refresh_models(self, select_path: str | None = None) -> None:
        current = select_path or (self.chat.model.path if self.chat.model else None)
        listing = self._services.models
        self.models_menu.rebuild(listing.models(), current, listing.refused_paths())
        self.models_menu.set_keep_loaded(
            self._services.settings.keep_models_loaded,
            locked=self._services.policy.is_locked("keep_models_loaded"))

    def refresh_presets(self) -> None:
        self.tasks.rebuild(self._services.presets.list())
        if self.chat.preset is not None:
            self._on_preset_changed(self._services.presets.get(self.chat.preset.id)
                                    or self.chat.preset)

    @Slot()
    def _on_models_changed(self, *_args) -> None:
        self.refresh_models()
        self.tasks_switcher.models_changed()

    def start(self, initial_model: ModelRef | None = None) -> None:
        """Reopen the last chat, apply the last task, load its model (or ``initial_model``)."""
        last_chat = self._services.settings.last_chat_id
        if last_chat is not None and any(c.id == last_chat
                                         for c in self._services.chat_store.list_chats()):
            self.chat.open_chat(last_chat)
            self.panel.refresh_chats()
        preset = self._services.current_preset()
        self.tasks_switcher.apply_preset(preset.id if preset else "", model=initial_model)

    def select_preset(self, preset_id: str) -> None:
        self.tasks_switcher.apply_preset(preset_id)

    def load_model(self, ref: ModelRef) -> None:
        self.tasks_switcher.request_model(ref)

    @Slot(object)
    def _on_preset_changed(self, preset: Preset) -> None:
        """The task box and the message box's hint always name the same task."""
        self.tasks.set_current(preset.id)
        about = f": {preset.description.strip()}" if preset.description.strip() else ""
        self.panel.set_placeholder(
            f"{preset.name}{about} (Enter sends, Shift+Enter adds a line)")
        self.prompt.setFocus()

    def _announce(self, text: str, actions) -> None:
        self.notice.show_notice(text, actions)
        describe_controls(self.notice)  # its new buttons, for screen readers

    def _show_model_notice(self, text: str) -> None:
        self.notice.show_notice(text, [])

    def _download_entry(self, entry: CatalogEntry) -> None:
        self.open_model_manager().download_catalog_entry(entry.id)

    def _set_keep_loaded(self, count: int) -> None:
        if self._services.policy.is_locked("keep_models_loaded"):
            return  # the menu is disabled; a stray trigger must not change a locked value
        try:
            self._services.update_settings(keep_models_loaded=count)
        except ScalpelError as exc:
            log.warning("keep loaded: %s", exc)
            self.show_error(str(exc))

    def _on_settings_changed(self, names: frozenset[str]) -> None:
        if "keep_models_loaded" in names:
            self.bridge.set_keep_loaded(self._services.settings.keep_models_loaded)

    def open_model_file(self, path: str | None = None) -> None:
        if path is None:
            path = self.folders.open_file(self, "Open a GGUF model",
                                          "GGUF models (*.gguf);;All files (*)")
            if not path:
                return
        try:
            ref = self._services.models.resolve(path)
        except ScalpelError as exc:
            self.show_error(str(exc))
            return
        self.tasks_switcher.choose_by_hand(ref)

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

    @Slot(str)
    def _on_engine_restarting(self, name: str) -> None:
        self._restarting = True
        self.status.show_restarting(name)

    @Slot()
    def _engine_back(self) -> None:
        if self._restarting and not self._loading:
            self._restarting = False
            self.status.set_loading(None)

    def _display_name(self, path: str) -> str:
        ref = self._services.models.find(path)
        return ref.name if ref else Path(path).name

    @Slot(object)
    def _on_model_loaded(self, info: ModelInfo) -> None:
        self._set_loading(False)
        if self._load_error is not None and self.errors.message() == self._load_error:
            self.errors.hide()  # a failed load's message is stale now; other problems stay
        self._load_error = None
        try:
            if self._services.remember_model(self._services.models.resolve(info.path)):
                self.listing.refresh()  # a file opened for the first time
        except (ScalpelError, OSError) as exc:  # a convenience; the model is loaded either way
            log.warning("could not remember the model: %s", exc)
        self.refresh_models(select_path=info.path)
        self.status.show_model(info)
        self.setWindowTitle(f"Scalpel — {info.name}")
        self._update_controls()

    def unload_model(self) -> None:
        """Close every model (the engine process ends); the chat stays open."""
        if self.chat.model is not None and not self.chat.answering and not self._loading:
            try:
                self.bridge.unload()
            except ScalpelError as exc:
                self.show_error(str(exc))

    @Slot()
    def _on_unloaded(self) -> None:
        self.status.show_still_loaded(None)
        self.statusBar().showMessage("Model unloaded; its memory is free again. "
                                     "Choose a model to go on.", 8000)
        self.models_menu.set_current(None)
        self.setWindowTitle("Scalpel")
        self._update_controls()

    @Slot(str, str)
    def _on_model_load_failed(self, path: str, message: str) -> None:
        self._set_loading(False)
        self.show_error(message)
        self._load_error = message
        current = self.chat.model
        self.status.show_still_loaded(current)
        self.models_menu.set_current(current.path if current else None)
        self._update_controls()

    # -- chat ------------------------------------------------------------------
    def chat_new(self) -> None:
        self.panel.new_chat()

    def copy_last_answer(self) -> None:
        answer = self.chat.last_answer_id()
        if answer is not None:
            self.view.copy_message(answer)

    def import_chats(self, path: str | None = None) -> list[int]:
        imported = self.panel.files.import_file(path)
        if imported:
            self.panel.open_chat(imported[0])
        return imported

    @Slot(object)
    def _on_chat_opened(self, summary) -> None:
        """A chat brings back its task and model."""
        model = None
        if summary.model:
            try:
                model = self._services.models.resolve(summary.model)
            except ScalpelError:
                model = None  # gone since: the task's own model will do
        if summary.preset_id:
            self.tasks_switcher.apply_preset(summary.preset_id, model=model)
        elif model is not None:
            self.load_model(model)

    @Slot(bool)
    def _on_answering_changed(self, answering: bool) -> None:
        self.send_button.setText("Stop" if answering else
                                 "Resend" if self.panel.editing is not None else "Send")
        if answering:
            self.status.show_answering()
        else:
            self.status.answer_ended()
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
        self.unload_action.setEnabled(self.chat.model is not None and not loading
                                      and not answering)
        self.send_button.setEnabled(answering or self.chat.can_send())
        self.stop_action.setEnabled(answering)

    def show_error(self, message: str) -> None:
        self.errors.show_message(message)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt naming
        save_window_state(self, self.panel, self._services, open_chat=self.chat.chat_id)
        self._unsubscribe_settings()
        self.listing.shutdown()
        for dialog in (self.model_manager, self.preset_editor):
            if dialog is not None:
                dialog.close()
        self.downloads.shutdown()
        self.chat.shutdown()
        self.bridge.shutdown()
        super().closeEvent(event)
