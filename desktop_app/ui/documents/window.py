"""The Documents window (Chat ▸ Documents…, Ctrl+Shift+D): collections, folders, files.

Non-modal. Named collections of folders: new, remove, add a folder, remove one,
re-scan; each file with its status and, for one Scalpel could not index, the problem's
sentence (scanned PDF, encrypted, empty, binary, too big, unreadable, refused by
policy). A progress bar with files, pages, passages per second and time left, and
Pause/Resume and Cancel, acting on the controller's worker. Every store access goes
through the controller's executor; this window only draws what comes back.

With documents turned off by policy the window says so and offers nothing. Without an
embedding model it says that search uses words only and offers the catalog's smallest
embedding model for download, through the main window's download path.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import (QDialog, QFileDialog, QHBoxLayout, QHeaderView, QInputDialog,
                               QLabel, QListWidget, QMessageBox, QProgressBar, QPushButton,
                               QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from ...core.documents import IndexProgress, path_refusal
from ...core.documents.scan import normalize
from ..plain_text import plain_label, plain_tip
from .controller import DocumentsController, Listing
from .embedding_note import EmbeddingNote
from .progress_text import file_status, progress_line

FILE_COLUMNS = ("File", "Status", "Details")


class DocumentsWindow(QDialog):
    def __init__(self, controller: DocumentsController, *,
                 download: Callable[[object], None] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Documents")
        self.setObjectName("documents-window")
        self.setModal(False)
        self.controller = controller
        self._download = download
        self._select_after: str | None = None   # a collection just made: select it
        self.resize(900, 560)
        layout = QVBoxLayout(self)
        if not controller.enabled:
            self.policy_label = plain_label(
                f"Your own documents are turned off: {controller.refusal}.")
            self.policy_label.setWordWrap(True)
            self.policy_label.setObjectName("documents-policy")
            layout.addWidget(self.policy_label)
            layout.addStretch(1)
            return
        self._build(layout)
        self._refresh_timer = QTimer(self, singleShot=True, interval=1000)
        self._refresh_timer.timeout.connect(controller.refresh)
        controller.listed.connect(self._show_listing)
        controller.progress.connect(self._show_progress)
        controller.finished.connect(lambda _report: self._update_buttons())
        self._show_listing(controller.listing)
        self._show_progress(controller.last_progress)
        controller.refresh()

    # -- layout ---------------------------------------------------------------------------
    def _build(self, layout: QVBoxLayout) -> None:
        self.embedding = EmbeddingNote(self.controller, download=self._download)
        self.embedding_note, self.download_button = self.embedding.label, self.embedding.button
        layout.addWidget(self.embedding)
        self.message = plain_label()
        self.message.setWordWrap(True)
        self.message.setObjectName("documents-message")
        self.message.hide()
        layout.addWidget(self.message)

        self.collections = QListWidget()
        self.collections.setAccessibleName("Collections")
        self.collections.currentTextChanged.connect(lambda _name: self._show_selected())
        self.new_button = QPushButton("New collection…")
        self.new_button.clicked.connect(lambda: self.new_collection())
        self.remove_button = QPushButton("Remove collection")
        self.remove_button.clicked.connect(lambda: self.remove_collection())
        left = _column(QLabel("Collections"), self.collections,
                       _row(self.new_button, self.remove_button))

        self.folders = QListWidget()
        self.folders.setAccessibleName("Folders")
        self.folders.setMaximumHeight(110)
        self.add_button = QPushButton("Add folder…")
        self.add_button.clicked.connect(lambda: self.add_folder())
        self.remove_folder_button = QPushButton("Remove folder")
        self.remove_folder_button.clicked.connect(lambda: self.remove_folder())
        self.rescan_button = QPushButton("Re-scan")
        self.rescan_button.setToolTip("Read again what changed on disk (only that)")
        self.rescan_button.clicked.connect(self.rescan)
        self.files = QTableWidget(0, len(FILE_COLUMNS))
        self.files.setAccessibleName("Files")
        self.files.setHorizontalHeaderLabels(FILE_COLUMNS)
        self.files.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.files.setWordWrap(True)
        self.files.verticalHeader().hide()
        self.files.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        right = _column(QLabel("Folders"), self.folders,
                        _row(self.add_button, self.remove_folder_button, self.rescan_button),
                        QLabel("Files"), self.files)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([230, 670])
        layout.addWidget(splitter, 1)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.progress_label = plain_label()
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress_bar, 1)
        bottom.addWidget(self.pause_button)
        bottom.addWidget(self.cancel_button)
        layout.addLayout(bottom)
        layout.addWidget(self.progress_label)

    # -- actions ----------------------------------------------------------------------
    def current_name(self) -> str | None:
        item = self.collections.currentItem()
        return item.text() if item is not None else None

    def new_collection(self, name: str | None = None) -> None:
        if name is None:
            name, ok = QInputDialog.getText(self, "New collection", "Name of the collection:")
            if not ok:
                return
        name = name.strip()
        if not name:
            return
        self._select_after = name
        model = self.controller.embedding_model_id()
        self.controller.submit(
            lambda: self.controller.store.ensure_collection(name, embedding_model=model),
            lambda _id: self.controller.refresh(), on_error=self.show_message)

    def remove_collection(self, name: str | None = None, *, confirm: bool = True) -> None:
        name = name or self.current_name()
        if not name:
            return
        if confirm and QMessageBox.question(
                self, "Remove collection", f"Remove the collection “{name}” and its index? "
                "Your files stay where they are.") != QMessageBox.StandardButton.Yes:
            return
        self.controller.submit(lambda: self.controller.store.remove_collection(name),
                               lambda _gone: self.controller.refresh(),
                               on_error=self.show_message)

    def add_folder(self, path: str | None = None) -> bool:
        """Add a folder to the selected collection and index it; False when refused."""
        name = self.current_name()
        if name is None:
            self.show_message("Make a collection first (New collection…), then add folders.")
            return False
        if path is None:
            path = QFileDialog.getExistingDirectory(self, f"Add a folder to {name}")
            if not path:
                return False
        refusal = path_refusal(self.controller.services.policy, path)
        if refusal:
            self.show_message(refusal[:1].upper() + refusal[1:] + ".")
            return False
        self.message.hide()
        folder, store = normalize(path), self.controller.store

        def add() -> None:
            store.add_folder(store.ensure_collection(name), folder)
        self.controller.submit(add, lambda _: self._indexing([name]),
                               on_error=self.show_message)
        return True

    def remove_folder(self, path: str | None = None) -> None:
        name = self.current_name()
        item = self.folders.currentItem()
        path = path or (item.text() if item is not None else None)
        if name is None or not path:
            return
        store = self.controller.store
        self.controller.submit(lambda: store.remove_folder(store.ensure_collection(name), path),
                               lambda _: self.controller.refresh(), on_error=self.show_message)

    def rescan(self) -> None:
        name = self.current_name()
        self._indexing([name] if name else None)

    def toggle_pause(self) -> None:
        if self.controller.paused:
            self.controller.resume()
        else:
            self.controller.pause()
        self._update_buttons()
        self._show_progress(self.controller.last_progress)

    def cancel(self) -> None:
        self.controller.cancel()
        self._update_buttons()

    def _indexing(self, names) -> None:
        self.controller.request(names)
        self.controller.refresh()
        QTimer.singleShot(200, self._update_buttons)

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()

    def update_embedding_note(self) -> None:
        self.embedding.update_note()

    # -- drawing --------------------------------------------------------------------------
    @Slot(object)
    def _show_listing(self, listing: Listing) -> None:
        wanted = self._select_after or self.current_name()
        self._select_after = None
        self.collections.blockSignals(True)
        self.collections.clear()
        for info in listing.collections:
            self.collections.addItem(info.name)
        names = [info.name for info in listing.collections]
        if names:
            self.collections.setCurrentRow(names.index(wanted) if wanted in names else 0)
        self.collections.blockSignals(False)
        self._show_selected()

    def _show_selected(self) -> None:
        listing, name = self.controller.listing, self.current_name()
        info = listing.collection(name) if name else None
        self.folders.clear()
        for folder in (info.folders if info else ()):
            self.folders.addItem(folder)
        rows = listing.files.get(name, ()) if name else ()
        folders = info.folders if info else ()
        self.files.setRowCount(len(rows))
        for index, row in enumerate(rows):
            status, details = file_status(row)
            for column, text in enumerate((shown_path(row.path, folders), status, details)):
                item = QTableWidgetItem(text)
                item.setToolTip(plain_tip(row.path if column == 0 else text))
                self.files.setItem(index, column, item)
        self.files.resizeColumnToContents(1)
        self._update_buttons()

    @Slot(object)
    def _show_progress(self, progress: IndexProgress | None) -> None:
        self.progress_label.setText(progress_line(progress, paused=self.controller.paused))
        fraction = progress.fraction if progress is not None else None
        if progress is None or progress.phase in ("done", "cancelled"):
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(1000 if progress and progress.phase == "done" else 0)
        elif fraction is None:
            self.progress_bar.setRange(0, 0)   # busy: scanning, or no total yet
        else:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(int(fraction * 1000))
        if progress is not None and progress.phase in ("reading", "done", "cancelled") \
                and not self._refresh_timer.isActive():
            self._refresh_timer.start()   # the files' statuses, at most once a second
        self._update_buttons()

    def _update_buttons(self) -> None:
        selected = self.current_name() is not None
        running = self.controller.running
        self.remove_button.setEnabled(selected)
        self.add_button.setEnabled(selected)
        self.remove_folder_button.setEnabled(selected and self.folders.count() > 0)
        self.rescan_button.setEnabled(bool(self.controller.listing.collections))
        self.pause_button.setEnabled(running)
        self.cancel_button.setEnabled(running)
        self.pause_button.setText("Resume" if self.controller.paused else "Pause")


def shown_path(path: str, folders) -> str:
    """A file's path under the collection's folder that holds it (the folder is listed
    above), else the path itself."""
    for folder in folders:
        base = folder.rstrip("/\\")
        if len(path) > len(base) + 1 and path.startswith(base) and path[len(base)] in "/\\":
            return path[len(base) + 1:]
    return path


def _row(*widgets: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    row.addStretch(1)
    return row


def _column(*parts) -> QWidget:
    widget = QWidget()
    column = QVBoxLayout(widget)
    column.setContentsMargins(0, 0, 0, 0)
    for part in parts:
        if isinstance(part, QHBoxLayout):
            column.addLayout(part)
        else:
            column.addWidget(part, 1 if isinstance(part, (QListWidget, QTableWidget)) else 0)
    return widget
