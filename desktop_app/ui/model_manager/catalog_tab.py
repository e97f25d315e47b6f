"""The model manager's Catalog tab: curated models, filter, fit and download state.

The Fit column says how well a model fits in memory and how fast it will answer
here ("Fits · ~12 tok/s"), from the file size and this machine's memory bandwidth,
which the dialog measures (once, cached) off the GUI thread and hands in with
``set_bandwidth``. The built-in starter reads "Built in", never "Download".

The Fit colours come in a light and a dark set, both at least 4.5:1 against the table's
background (WCAG AA), chosen from the palette and redone when the theme changes: the
light set's dark green on a dark theme's grey could not be read."""

from __future__ import annotations

import html

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QStackedWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from ...core import hardware
from ...core.catalog import TASKS, Catalog, CatalogEntry
from ...core.downloads.manager import DownloadStatus
from ...core.errors import format_size
from ...core.fit import SLOW_TOKENS_PER_S, estimate_fit
from .common import format_params, make_readonly_table, progress_value
from ..plain_text import plain_label, plain_tip

COLUMNS = ("Name", "Tasks", "Params", "Quant", "Size", "Fit", "License", "Status")
STATUS_COLUMN = COLUMNS.index("Status")
FIT_COLUMN = COLUMNS.index("Fit")
_FIT_COLORS = {"fits": "#1b7a32", "tight": "#8a5300", "wont_fit": "#b3261e"}
_FIT_COLORS_DARK = {"fits": "#6fdc8c", "tight": "#ffb74d", "wont_fit": "#ff8a80"}
VERDICT_ROLE = Qt.ItemDataRole.UserRole + 1


def fit_colour(verdict: str, palette: QPalette) -> QColor | None:
    """The Fit column's colour for ``verdict``, readable on ``palette``'s background."""
    dark = palette.color(QPalette.ColorRole.Base).lightness() < 128
    colour = (_FIT_COLORS_DARK if dark else _FIT_COLORS).get(verdict)
    return QColor(colour) if colour else None


class StatusCell(QStackedWidget):
    """Download button, progress bar, or a word ("Installed")."""

    download_clicked = Signal(str)

    def __init__(self, entry: CatalogEntry) -> None:
        super().__init__()
        self.entry_id = entry.id
        self.button = QPushButton("Download")
        self.button.setAccessibleName(f"Download {entry.name}")
        self.button.setToolTip(plain_tip(f"Download {entry.filename} "
                                         f"({format_size(entry.size_bytes)}) from {entry.repo}"))
        self.button.clicked.connect(lambda: self.download_clicked.emit(self.entry_id))
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.bar.setAccessibleName(f"Downloading {entry.name}")
        self.label = plain_label()
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        for widget in (self.button, self.bar, self.label):
            self.addWidget(widget)

    def show_state(self, installed: bool, job: DownloadStatus | None,
                   blocked: str | None = None, builtin: bool = False) -> None:
        """``blocked``: why the organization's policy refuses this download, if it does;
        ``builtin``: the model ships with Scalpel (the starter)."""
        if builtin:
            self.label.setText("Built in")
            self.label.setToolTip("Comes with Scalpel; installed and ready to use")
            self.setCurrentWidget(self.label)
        elif blocked and not installed and (job is None or job.finished):
            self.label.setText(blocked)
            self.label.setToolTip("Set by your organization")
            self.setCurrentWidget(self.label)
        elif job is not None and not job.finished:
            value = progress_value(job)
            if value is None:
                self.bar.setRange(0, 0)
            else:
                self.bar.setRange(0, 1000)
                self.bar.setValue(value)
                self.bar.setFormat(f"{value / 10:.0f}%")
            self.setCurrentWidget(self.bar)
        elif installed:
            self.label.setText("Installed")
            self.setCurrentWidget(self.label)
        else:
            self.setCurrentWidget(self.button)

    def state_text(self) -> str:
        if self.currentWidget() is self.button:
            return "Download"
        if self.currentWidget() is self.bar:
            return "Downloading"
        return self.label.text()


class CatalogTab(QWidget):
    download_requested = Signal(str)  # catalog entry id

    def __init__(self, catalog: Catalog, n_ctx: int) -> None:
        super().__init__()
        self.catalog = catalog
        self.n_ctx = n_ctx
        self._installed: set[str] = set()
        self._builtin: set[str] = set()
        self.bandwidth_bps: float | None = None
        self.fits: dict[str, object] = {}   # entry id -> FitEstimate shown
        self._jobs: dict[str, DownloadStatus] = {}
        self.blocked: dict[str, str] = {}  # entry id -> why the policy refuses it
        self._cells: dict[str, StatusCell] = {}
        self.entries: list[CatalogEntry] = []

        self.task_filter = QComboBox()
        self.task_filter.setObjectName("catalogTaskFilter")
        self.task_filter.setAccessibleName("Task")
        self.task_filter.addItem("All tasks", None)
        for task in TASKS:
            self.task_filter.addItem(task.capitalize(), task)
        self.search = QLineEdit()
        self.search.setObjectName("catalogSearch")
        self.search.setAccessibleName("Search the catalog")
        self.search.setPlaceholderText("Search by name, repo or description…")
        self.search.setClearButtonEnabled(True)
        self.table = make_readonly_table(COLUMNS, object_name="catalogTable",
                                         accessible_name="Catalog models")
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(60)
        self.detail = QLabel("Select a model to see what it is good at.")
        self.detail.setTextFormat(Qt.TextFormat.RichText)
        self.detail.setObjectName("catalogDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        filters = QHBoxLayout()
        filters.addWidget(QLabel("Task:"))
        filters.addWidget(self.task_filter)
        filters.addWidget(self.search, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.detail)

        self.task_filter.currentIndexChanged.connect(self.refresh)
        self.search.textChanged.connect(self.refresh)
        self.table.itemSelectionChanged.connect(self._show_detail)
        self._gpu = hardware.gpu_memory()  # once: it may run nvidia-smi
        self.refresh()

    # -- rows ------------------------------------------------------------------
    def refresh(self) -> None:
        self.entries = self.catalog.find(task=self.task_filter.currentData(),
                                         text=self.search.text())
        memory = hardware.memory_info()
        self.table.setRowCount(0)
        self._cells.clear()
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            fit = estimate_fit(file_size=entry.size_bytes,
                               kv_bytes_per_token=entry.kv_bytes_per_token(),
                               n_ctx=self.n_ctx, memory=memory, gpu=self._gpu)
            if not entry.is_embedding:   # embedding models do not write answers
                fit = fit.with_speed(bandwidth_bps=self.bandwidth_bps,
                                     file_size=entry.size_bytes,
                                     active_share=entry.active_share())
            self.fits[entry.id] = fit
            tasks = "embedding (search)" if entry.is_embedding else ", ".join(entry.tasks)
            values = (entry.name, tasks, format_params(entry.parameters),
                      entry.quantization, format_size(entry.size_bytes), fit.label,
                      entry.license, "")
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, entry.id)
                if col == 0:
                    item.setToolTip(plain_tip(f"{entry.description}\n{entry.repo} · "
                                              f"{entry.filename}"))
                elif col == FIT_COLUMN:
                    item.setToolTip(plain_tip(fit.detail))
                    slow = fit.tokens_per_s is not None and fit.tokens_per_s < SLOW_TOKENS_PER_S
                    verdict = "tight" if slow and fit.verdict == "fits" else fit.verdict
                    item.setData(VERDICT_ROLE, verdict)
                    colour = fit_colour(verdict, self.palette())
                    if colour is not None:
                        item.setForeground(colour)
                elif col in (2, 4):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
            cell = StatusCell(entry)
            cell.download_clicked.connect(self.download_requested)
            self._cells[entry.id] = cell
            self.table.setCellWidget(row, STATUS_COLUMN, cell)
            cell.show_state(entry.id in self._installed, self._jobs.get(entry.id),
                            self.blocked.get(entry.id), entry.id in self._builtin)
        self.table.setColumnWidth(STATUS_COLUMN, 130)
        self.table.horizontalHeader().setSectionResizeMode(
            STATUS_COLUMN, QHeaderView.ResizeMode.Fixed)

    def update_state(self, installed: set[str], jobs: dict[str, DownloadStatus],
                     builtin: set[str] | None = None) -> None:
        """Installed catalog ids, the latest job per catalog id, and the built-in ones."""
        self._installed, self._jobs = set(installed), dict(jobs)
        self._builtin = set(builtin or ())
        for entry_id, cell in self._cells.items():
            cell.show_state(entry_id in self._installed, self._jobs.get(entry_id),
                            self.blocked.get(entry_id), entry_id in self._builtin)

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # the theme changed: recolour
            for row in range(self.table.rowCount()):
                item = self.table.item(row, FIT_COLUMN)
                colour = item and fit_colour(item.data(VERDICT_ROLE) or "", self.palette())
                if colour is not None:
                    item.setForeground(colour)
            self._show_detail()

    def _muted(self) -> str:
        return self.palette().color(QPalette.ColorRole.PlaceholderText).name()

    def fit_for_size(self, size: int):
        """The fit and speed estimate for a GGUF of ``size`` bytes whose shape is unknown
        (a Hugging Face search result): its KV cache is guessed from the size."""
        fit = estimate_fit(file_size=size, kv_bytes_per_token=None, n_ctx=self.n_ctx,
                           memory=hardware.memory_info(), gpu=self._gpu)
        return fit.with_speed(bandwidth_bps=self.bandwidth_bps, file_size=size)

    def set_bandwidth(self, bytes_per_s: float | None) -> None:
        """This machine's measured memory bandwidth: the Fit column gains answer speeds."""
        self.bandwidth_bps = bytes_per_s
        self.refresh()

    def fit_text(self, entry_id: str) -> str:
        row = self.row_of(entry_id)
        item = self.table.item(row, FIT_COLUMN) if row >= 0 else None
        return item.text() if item is not None else ""

    def status_cell(self, entry_id: str) -> StatusCell | None:
        return self._cells.get(entry_id)

    def row_of(self, entry_id: str) -> int:
        return next((i for i, e in enumerate(self.entries) if e.id == entry_id), -1)

    def _show_detail(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        entry = self.entries[rows[0].row()]
        self.detail.setText(  # rich text: the entry's words escaped
            f"<b>{html.escape(entry.name)}</b> — {html.escape(entry.description)}<br>"
            f"<span style='color:{self._muted()}'>{html.escape(entry.repo)} · "
            f"{html.escape(entry.filename)} · context {entry.context_length:,} tokens"
            f"{' · mixture of experts' if entry.moe else ''}</span>")
