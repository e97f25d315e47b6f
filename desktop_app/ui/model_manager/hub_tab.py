"""The model manager's "Add from Hugging Face" tab: list a repo's GGUF files, pick one."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ...core.downloads.hub import RepoFile
from ...core.errors import format_size
from ..plain_text import plain_label


class HubTab(QWidget):
    list_requested = Signal(str)              # repo id
    download_requested = Signal(str, str)     # repo id, filename

    def __init__(self) -> None:
        super().__init__()
        self.repo = ""
        self.files: list[RepoFile] = []
        self.repo_edit = QLineEdit()
        self.repo_edit.setObjectName("hubRepo")
        self.repo_edit.setAccessibleName("Hugging Face repository")
        self.repo_edit.setPlaceholderText("owner/name, e.g. Qwen/Qwen2.5-0.5B-Instruct-GGUF")
        self.list_button = QPushButton("List files")
        self.list_button.setObjectName("hubListButton")
        self.list_button.setAccessibleName("List the repository's GGUF files")
        self.table = QTableWidget(0, 2)
        self.table.setObjectName("hubFiles")
        self.table.setAccessibleName("GGUF files in the repository")
        self.table.setHorizontalHeaderLabels(("File", "Size"))
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.status = plain_label("Type a repository id and press List files.")  # names a repo
        self.status.setObjectName("hubStatus")
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("hubDownloadButton")
        self.download_button.setAccessibleName("Download the selected file")
        self.download_button.setEnabled(False)

        top = QHBoxLayout()
        top.addWidget(QLabel("Repository:"))
        top.addWidget(self.repo_edit, 1)
        top.addWidget(self.list_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.download_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)

        self.repo_edit.returnPressed.connect(self._ask_list)
        self.list_button.clicked.connect(self._ask_list)
        self.table.itemSelectionChanged.connect(
            lambda: self.download_button.setEnabled(self.selected() is not None))
        self.table.itemDoubleClicked.connect(lambda _item: self._ask_download())
        self.download_button.clicked.connect(self._ask_download)

    def set_busy(self, repo: str) -> None:
        self.repo = repo
        self.list_button.setEnabled(False)
        self.table.setRowCount(0)
        self.files = []
        self.download_button.setEnabled(False)
        self.status.setText(f"Asking the hub about {repo}…")

    def set_files(self, repo: str, files: list[RepoFile]) -> None:
        self.repo, self.files = repo, list(files)
        self.list_button.setEnabled(True)
        self.table.setRowCount(len(self.files))
        for row, f in enumerate(self.files):
            name = QTableWidgetItem(f.filename)
            size = QTableWidgetItem(format_size(f.size) if f.size is not None else "?")
            size.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, 0, name)
            self.table.setItem(row, 1, size)
        self.status.setText(f"{len(self.files)} GGUF file{'s' if len(self.files) != 1 else ''} "
                            f"in {repo}" if self.files else f"{repo} has no GGUF files")
        if self.files:
            self.table.selectRow(0)

    def set_failed(self) -> None:
        self.list_button.setEnabled(True)
        self.status.setText("")

    def selected(self) -> RepoFile | None:
        rows = self.table.selectionModel().selectedRows()
        return self.files[rows[0].row()] if rows and rows[0].row() < len(self.files) else None

    def _ask_list(self) -> None:
        repo = self.repo_edit.text().strip().strip("/")
        if repo:
            self.list_requested.emit(repo)

    def _ask_download(self) -> None:
        if (f := self.selected()) is not None:
            self.download_requested.emit(self.repo, f.filename)
