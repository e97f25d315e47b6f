"""The model manager's Downloads area: one row per job with progress, Cancel, and Retry
for a download that failed or was cancelled."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (QFrame, QGridLayout, QLabel, QProgressBar, QPushButton,
                               QScrollArea, QSizePolicy, QVBoxLayout, QWidget)

from ...core.downloads.manager import DownloadStatus
from .common import progress_text, progress_value
from ..plain_text import plain_label


class DownloadRow(QFrame):
    cancel_clicked = Signal(int)
    dismiss_clicked = Signal(int)
    retry_clicked = Signal(int)

    def __init__(self, job_id: int, name: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.finished = False
        self.title = name
        self.setObjectName("downloadRow")
        self.name = QLabel(f"<b>{html.escape(name)}</b>")  # a file name from the Hub
        self.name.setTextFormat(Qt.TextFormat.RichText)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setAccessibleName(f"Download progress of {name}")
        self.bar.setFormat("%p%")
        self.detail = plain_label()  # progress and error messages quote names
        self.detail.setObjectName("downloadDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.button = QPushButton("Cancel")
        self.button.setAccessibleName(f"Cancel the download of {name}")
        self.button.clicked.connect(self._clicked)
        self.retry_button = QPushButton("Retry")
        self.retry_button.setObjectName("retryDownloadButton")
        self.retry_button.setAccessibleName(f"Retry the download of {name}")
        self.retry_button.setVisible(False)
        self.retry_button.clicked.connect(lambda: self.retry_clicked.emit(self.job_id))
        layout = QGridLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setHorizontalSpacing(10)
        layout.setVerticalSpacing(2)
        layout.addWidget(self.name, 0, 0)
        layout.addWidget(self.bar, 0, 1)
        layout.addWidget(self.retry_button, 0, 2)
        layout.addWidget(self.button, 0, 3)
        layout.addWidget(self.detail, 1, 0, 1, 4)
        layout.setColumnStretch(0, 2)
        layout.setColumnStretch(1, 3)

    def show_status(self, status: DownloadStatus) -> None:
        value = progress_value(status)
        if status.finished and value is None:
            self.bar.setRange(0, 1000)
            self.bar.setValue(0)
        elif value is None:
            self.bar.setRange(0, 0)  # busy until the size is known
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(value)
        self.detail.setText(progress_text(status))
        failed = status.state == "failed"
        self.bar.setTextVisible(status.state not in ("failed", "cancelled"))
        self.detail.setStyleSheet(f"color: {_failed_colour(self)};" if failed else "")
        self.finished = status.finished
        self.retry_button.setVisible(status.state in ("failed", "cancelled"))
        self.button.setText("Remove" if status.finished else "Cancel")
        self.button.setAccessibleName(("Remove from the list: " if status.finished
                                       else "Cancel the download of ") + self.title)

    def _clicked(self) -> None:
        (self.dismiss_clicked if self.finished else self.cancel_clicked).emit(self.job_id)


class DownloadsPanel(QWidget):
    cancel_requested = Signal(int)
    retry_requested = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[int, DownloadRow] = {}
        self._dismissed: set[int] = set()
        title = QLabel("<b>Downloads</b>")
        self.empty = QLabel("No downloads. Pick a model in the Catalog or on Hugging Face.")
        self.empty.setObjectName("downloadsEmpty")
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)  # follows the theme
        self._list = QVBoxLayout()
        self._list.setContentsMargins(0, 0, 0, 0)
        self._list.setSpacing(2)
        inner = QWidget()
        inner_layout = QVBoxLayout(inner)
        inner_layout.setContentsMargins(0, 0, 0, 0)
        inner_layout.addWidget(self.empty)
        inner_layout.addLayout(self._list)
        inner_layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setObjectName("downloadsArea")
        self.scroll.setAccessibleName("Downloads")
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(inner)
        self.scroll.setFrameShape(QFrame.Shape.StyledPanel)
        self.scroll.setMinimumHeight(120)
        self.scroll.setMaximumHeight(200)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(title)
        layout.addWidget(self.scroll)

    def update_jobs(self, statuses: list[DownloadStatus], name_for) -> None:
        for status in statuses:
            if status.id in self._dismissed:
                continue
            row = self.rows.get(status.id)
            if row is None:
                self._dismiss_older(status, statuses)
                row = DownloadRow(status.id, name_for(status))
                row.cancel_clicked.connect(self.cancel_requested)
                row.dismiss_clicked.connect(self.dismiss)
                row.retry_clicked.connect(self.retry_requested)
                self.rows[status.id] = row
                self._list.insertWidget(0, row)  # newest on top
            row.show_status(status)
        self.empty.setVisible(not self.rows)

    def _dismiss_older(self, new: DownloadStatus, statuses: list[DownloadStatus]) -> None:
        """A retry of the same file replaces the finished rows of earlier attempts."""
        for old in statuses:
            same = (old.request.repo, old.request.filename) == (new.request.repo,
                                                                 new.request.filename)
            if old.id != new.id and same and old.finished and old.id in self.rows:
                self.dismiss(old.id)

    def dismiss(self, job_id: int) -> None:
        row = self.rows.pop(job_id, None)
        if row is not None:
            self._dismissed.add(job_id)
            row.hide()
            row.deleteLater()
        self.empty.setVisible(not self.rows)


def _failed_colour(widget: QWidget) -> str:
    """A red that keeps 4.5:1 contrast on the theme's background (light or dark)."""
    dark = widget.palette().color(QPalette.ColorRole.Window).lightness() < 128
    return "#ff8a80" if dark else "#b3261e"
