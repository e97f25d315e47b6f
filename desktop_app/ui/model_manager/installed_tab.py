"""The model manager's Installed tab: what Scalpel can load, with Use (or double-click),
Delete and Reveal. Names come from the catalog or the GGUF's own ``general.name``
(handed in by the dialog, read off the GUI thread), not from the file name."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QHeaderView, QPushButton,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from ...core.errors import format_size
from ...core.models import ModelRef
from .common import make_readonly_table
from ..plain_text import plain_tip

COLUMNS = ("Name", "Size", "Source", "Location")
SHOWN_SOURCES = ("starter", "library", "reference", "provisioned", "opened")
_SOURCE_TEXT = {"starter": "Built in", "library": "In Scalpel's folder",
                "reference": "Used where it is", "opened": "Opened before",
                "provisioned": "Provided by your organization"}
_NOT_DELETABLE = {"starter": "The built-in starter model comes with Scalpel and cannot be deleted",
                  "provisioned": "Provided by your organization; Scalpel never changes it"}


class InstalledTab(QWidget):
    use_requested = Signal(str)      # path: load it now
    delete_requested = Signal(str)   # path
    reveal_requested = Signal(str)   # path
    import_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.models: list[ModelRef] = []
        self.names: dict[str, str] = {}   # path -> the catalog's or the GGUF's own name
        self.kinds: dict[str, str] = {}   # path -> "embedding" for embedding models
        self.table = make_readonly_table(COLUMNS, object_name="installedTable",
                                         accessible_name="Installed models")
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)

        self.use_button = QPushButton("Use")
        self.use_button.setObjectName("useModelButton")
        self.use_button.setAccessibleName("Use the selected model now")
        self.use_button.setToolTip("Load the selected model for chatting (or double-click it)")
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setObjectName("deleteModelButton")
        self.delete_button.setAccessibleName("Delete the selected model")
        self.reveal_button = QPushButton("Reveal in folder")
        self.reveal_button.setObjectName("revealModelButton")
        self.reveal_button.setAccessibleName("Show the selected model's folder")
        self.import_button = QPushButton("Import GGUF file…")
        self.import_button.setObjectName("importModelButton")
        self.import_button.setAccessibleName("Import a GGUF file")
        buttons = QHBoxLayout()
        buttons.addWidget(self.import_button)
        buttons.addStretch(1)
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.reveal_button)
        buttons.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.use_button.clicked.connect(self._ask_use)
        self.table.itemDoubleClicked.connect(lambda _item: self._ask_use())
        self.delete_button.clicked.connect(
            lambda: (m := self.selected()) and self.delete_requested.emit(str(m.path)))
        self.reveal_button.clicked.connect(
            lambda: (m := self.selected()) and self.reveal_requested.emit(str(m.path)))
        self.import_button.clicked.connect(self.import_requested)
        self._update_buttons()

    def set_models(self, models: list[ModelRef], origins: dict[str, str] | None = None) -> None:
        """``origins`` may name where a library file came from ("Downloaded", "Imported")."""
        selected = self.selected()
        self.models = [m for m in models if m.source in SHOWN_SOURCES]
        self.table.setRowCount(len(self.models))
        for row, ref in enumerate(self.models):
            location = str(ref.path.parent)
            source = (origins or {}).get(str(ref.path)) or _SOURCE_TEXT.get(ref.source, ref.source)
            values = (self.display_name(ref), format_size(ref.size_bytes), source, location)
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, str(ref.path))
                item.setToolTip(plain_tip(str(ref.path)))
                if col == 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        if selected:
            self.select_path(str(selected.path))
        self._update_buttons()

    def set_names(self, names: dict[str, str], kinds: dict[str, str] | None = None) -> None:
        """Better names (and kinds) for listed paths; the table is redrawn in place."""
        self.names.update(names)
        self.kinds.update(kinds or {})
        for row, ref in enumerate(self.models):
            item = self.table.item(row, 0)
            if item is not None:
                item.setText(self.display_name(ref))
        self._update_buttons()

    def display_name(self, ref: ModelRef) -> str:
        name = self.names.get(str(ref.path)) or ref.name
        if self.kinds.get(str(ref.path)) == "embedding":
            name += " (embedding)"
        return name

    def _ask_use(self) -> None:
        ref = self.selected()
        if ref is not None and self.kinds.get(str(ref.path)) != "embedding":
            self.use_requested.emit(str(ref.path))

    def select_path(self, path: str) -> bool:
        for row, ref in enumerate(self.models):
            if str(ref.path) == path:
                self.table.selectRow(row)
                return True
        return False

    def selected(self) -> ModelRef | None:
        rows = self.table.selectionModel().selectedRows()
        return self.models[rows[0].row()] if rows and rows[0].row() < len(self.models) else None

    def paths(self) -> list[str]:
        return [str(m.path) for m in self.models]

    def _update_buttons(self) -> None:
        ref = self.selected()
        self.reveal_button.setEnabled(ref is not None)
        embedding = ref is not None and self.kinds.get(str(ref.path)) == "embedding"
        self.use_button.setEnabled(ref is not None and not embedding)
        self.use_button.setToolTip("An embedding model turns text into vectors for search; "
                                   "it cannot chat" if embedding else
                                   "Load the selected model for chatting (or double-click it)")
        reason = _NOT_DELETABLE.get(ref.source) if ref is not None else None
        self.delete_button.setEnabled(ref is not None and reason is None)
        self.delete_button.setToolTip(reason or "")

