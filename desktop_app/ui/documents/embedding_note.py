"""The Documents window's line about the embedding model, and its download offer.

With an embedding model installed, search is hybrid (words and meaning) and the line
names the model. Without one, search uses words only (BM25), which the line says, and
the catalog's smallest embedding model this machine may download is offered through
the main window's download path (``MainWindow._download_entry``, the Models window).
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

from ...core.errors import format_size
from ..plain_text import plain_label
from .controller import DocumentsController


class EmbeddingNote(QWidget):
    def __init__(self, controller: DocumentsController, *,
                 download: Callable[[object], None] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller, self._download = controller, download
        self.offer = None                      # the catalog entry offered, if any
        self.label = plain_label()
        self.label.setWordWrap(True)
        self.button = QPushButton("Download")
        self.button.clicked.connect(self._download_offer)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label, 1)
        row.addWidget(self.button)
        self.update_note()

    def update_note(self) -> None:
        model = self.controller.services.embedding_model()
        offers = self.controller.embedding_downloads() if model is None else []
        self.offer = offers[0] if offers else None
        if model is not None:
            self.label.setText(f"Search uses words and meaning (embedding model: "
                               f"{model.name}).")
        else:
            self.label.setText(
                "No embedding model is installed, so search uses words only (BM25)."
                + (f" Download {self.offer.name} ({format_size(self.offer.size_bytes)}) "
                   "to find passages by meaning too." if self.offer else ""))
        self.button.setVisible(self.offer is not None and self._download is not None)
        if self.offer is not None:
            self.button.setText(f"Download {self.offer.name}")

    def _download_offer(self) -> None:
        if self.offer is not None and self._download is not None:
            self._download(self.offer)
