"""The model manager's "Add from Hugging Face" tab: search GGUF repos by name, most
downloaded first, then pick one of a repo's files by quantization and size.

The tab only draws; the dialog runs the search and the listing off the GUI thread
(core/hub_search.py) and hands the answers back with ``set_repos`` / ``set_files``.
An exact ``owner/name`` typed in the box lists that repo's files straight away.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QPushButton, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from ...core.errors import format_size
from ...core.hub_search import HubFile, HubRepo
from ..plain_text import plain_label, plain_tip
from .common import make_readonly_table

REPO_COLUMNS = ("Repository", "Downloads", "Likes", "License")
FILE_COLUMNS = ("File", "Quantization", "Size", "Fit")


def _table(columns: tuple[str, ...], name: str, accessible: str) -> QTableWidget:
    table = make_readonly_table(columns, object_name=name, accessible_name=accessible)
    table.setWordWrap(True)   # long file names wrap rather than elide
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for col in range(1, len(columns)):
        header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
    return table


def _cell(text: str, *, right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


class HubTab(QWidget):
    search_requested = Signal(str)            # words to search for
    list_requested = Signal(str)              # repo id
    download_requested = Signal(str, str)     # repo id, filename

    def __init__(self) -> None:
        super().__init__()
        self.repo = ""
        self.repos: list[HubRepo] = []
        self.files: list[HubFile] = []
        self.fit_for = None   # size in bytes -> FitEstimate, set by the dialog
        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("hubSearch")
        self.search_edit.setAccessibleName("Search Hugging Face for GGUF models")
        self.search_edit.setPlaceholderText("A model name, e.g. qwen3 4b, or owner/name")
        self.repo_edit = self.search_edit   # an exact owner/name works here too
        self.search_button = QPushButton("Search")
        self.search_button.setObjectName("hubSearchButton")
        self.search_button.setAccessibleName("Search Hugging Face")
        self.list_button = self.search_button
        self.repo_table = _table(REPO_COLUMNS, "hubRepos", "GGUF repositories found")
        self.table = _table(FILE_COLUMNS, "hubFiles", "GGUF files in the repository")
        self.status = plain_label("Search by name; the most downloaded repositories come first.")
        self.status.setObjectName("hubStatus")
        self.status.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("hubDownloadButton")
        self.download_button.setAccessibleName("Download the selected file")
        self.download_button.setEnabled(False)

        top = QHBoxLayout()
        top.addWidget(QLabel("Search:"))
        top.addWidget(self.search_edit, 1)
        top.addWidget(self.search_button)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.repo_table)
        split.addWidget(self.table)
        split.setSizes([520, 420])
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.download_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        layout.addLayout(bottom)

        self.search_edit.returnPressed.connect(self._ask_search)
        self.search_button.clicked.connect(self._ask_search)
        self.repo_table.itemSelectionChanged.connect(self._ask_list)
        self.table.itemSelectionChanged.connect(
            lambda: self.download_button.setEnabled(self.selected() is not None))
        self.table.itemDoubleClicked.connect(lambda _item: self._ask_download())
        self.download_button.clicked.connect(self._ask_download)

    # -- answers from the dialog ------------------------------------------------------
    def set_searching(self, text: str) -> None:
        self.search_button.setEnabled(False)
        self.repo_table.setRowCount(0)
        self.table.setRowCount(0)
        self.repos, self.files = [], []
        self.download_button.setEnabled(False)
        self.status.setText(f"Searching Hugging Face for “{text}”…")

    def set_repos(self, text: str, repos: list[HubRepo]) -> None:
        self.search_button.setEnabled(True)
        self.repos = list(repos)
        self.repo_table.blockSignals(True)
        self.repo_table.setRowCount(len(self.repos))
        for row, repo in enumerate(self.repos):
            self.repo_table.setItem(row, 0, _cell(repo.id))
            self.repo_table.setItem(row, 1, _cell(f"{repo.downloads:,}", right=True))
            self.repo_table.setItem(row, 2, _cell(f"{repo.likes:,}", right=True))
            self.repo_table.setItem(row, 3, _cell(repo.license or "not stated"))
        self.repo_table.blockSignals(False)
        self.status.setText(f"{len(self.repos)} GGUF repositor{'ies' if len(self.repos) != 1 else 'y'}"
                            f" for “{text}”, most downloaded first; pick one to see its files."
                            if self.repos else f"No GGUF repositories match “{text}”.")
        if self.repos:
            self.repo_table.selectRow(0)

    def set_busy(self, repo: str) -> None:
        """Listing ``repo``'s files."""
        self.repo = repo
        self.table.setRowCount(0)
        self.files = []
        self.download_button.setEnabled(False)
        self.status.setText(f"Asking the hub about {repo}…")

    def set_files(self, repo: str, files: list) -> None:
        self.repo, self.files = repo, [f if isinstance(f, HubFile) else
                                       HubFile(f.filename, f.size, None) for f in files]
        self.search_button.setEnabled(True)
        self.table.setRowCount(len(self.files))
        for row, f in enumerate(self.files):
            name = _cell(f.filename)
            if f.note:
                name.setToolTip(plain_tip(f.note))
                name.setForeground(Qt.GlobalColor.gray)
            self.table.setItem(row, 0, name)
            self.table.setItem(row, 1, _cell(f.quantization or "?"))
            self.table.setItem(row, 2, _cell(format_size(f.size) if f.size is not None else "?",
                                             right=True))
            fit = self.fit_for(f.size) if self.fit_for and f.size and not f.note else None
            fit_cell = _cell(fit.label if fit is not None else "")
            if fit is not None:
                fit_cell.setToolTip(plain_tip(fit.detail))
            self.table.setItem(row, 3, fit_cell)
        usable = [f for f in self.files if not f.note]
        self.status.setText(f"{len(usable)} GGUF file{'s' if len(usable) != 1 else ''} in {repo}; "
                            "smaller quantizations are faster, larger ones answer better."
                            if usable else f"{repo} has no single-file GGUF models")
        if usable:
            self.table.selectRow(self.files.index(usable[0]))

    def set_failed(self) -> None:
        self.search_button.setEnabled(True)
        self.status.setText("")

    # -- choices ------------------------------------------------------------------------
    def selected(self) -> HubFile | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.files):
            return None
        chosen = self.files[rows[0].row()]
        return None if chosen.note else chosen

    def selected_repo(self) -> HubRepo | None:
        rows = self.repo_table.selectionModel().selectedRows()
        return self.repos[rows[0].row()] if rows and rows[0].row() < len(self.repos) else None

    def _ask_search(self) -> None:
        text = self.search_edit.text().strip()
        if not text:
            return
        if "/" in text and " " not in text:
            self.list_requested.emit(text.strip("/"))   # an exact repo id
        else:
            self.search_requested.emit(text)

    def _ask_list(self) -> None:
        if (repo := self.selected_repo()) is not None:
            self.list_requested.emit(repo.id)

    def _ask_download(self) -> None:
        if (f := self.selected()) is not None:
            self.download_requested.emit(self.repo, f.filename)
