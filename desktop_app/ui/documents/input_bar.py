"""The documents in play for the open chat, shown above the message box, and the picker.

``DocumentsBar`` lists the chat's collections (by name) and its attached files (one
chip each), every one removable with its ×; while indexing runs it says "indexing 3 of
7…", and a grounded answer's map-reduce progress ("Reading part 2 of 5…") shows there
too. It is hidden while the chat uses no documents and nothing is being indexed.

``CollectionPicker`` chooses which named collections the chat uses (another chat's
attachments are not offered; this chat's stay ticked).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QListWidget,
                               QListWidgetItem, QPushButton, QVBoxLayout, QWidget)

from ...core.documents import IndexProgress
from ..plain_text import plain_label, plain_tip
from .attachments import Attachments, is_attachments, session_documents
from .progress_text import short_progress

CHIP_CHARS = 32


def _chip_text(text: str) -> str:
    if len(text) > CHIP_CHARS:
        text = text[:CHIP_CHARS - 1] + "…"
    return text.replace("&", "&&") + "  ×"   # "&" would be a mnemonic


class DocumentsBar(QWidget):
    def __init__(self, attachments: Attachments, *, choose=None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("documents-bar")
        self.attachments = attachments
        self.controller = attachments.controller
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 2, 0, 2)
        self._title = plain_label("Documents:")
        self._layout.addWidget(self._title)
        self.chips: list[QPushButton] = []
        self._chip_row = QHBoxLayout()
        self._layout.addLayout(self._chip_row)
        self._layout.addStretch(1)
        self.status = plain_label()
        self.status.setObjectName("documents-status")
        self._layout.addWidget(self.status)
        self.choose_button = QPushButton("Collections…")
        self.choose_button.setToolTip("Choose which document collections this chat uses")
        if choose is not None:
            self.choose_button.clicked.connect(choose)
        self._layout.addWidget(self.choose_button)
        self._answer_note = ""
        attachments.changed.connect(self.refresh)
        self.controller.listed.connect(lambda _listing: self.refresh())
        self.controller.progress.connect(self._on_progress)
        self.refresh()

    def in_play(self) -> list[tuple[str, str | None]]:
        """(collection, file) pairs shown: a named collection as (name, None), each
        attached file as (its collection, its path)."""
        shown: list[tuple[str, str | None]] = []
        for name in session_documents(self.attachments.session):
            info = self.controller.listing.collection(name)
            if is_attachments(name) and info is not None and info.folders:
                shown += [(name, path) for path in info.folders]
            else:
                shown.append((name, None))
        return shown

    @Slot()
    def refresh(self) -> None:
        for chip in self.chips:
            self._chip_row.removeWidget(chip)
            chip.deleteLater()
        self.chips = []
        for collection, path in self.in_play():
            label = Path(path).name if path else collection
            chip = QPushButton(_chip_text(label))
            chip.setFlat(True)
            chip.setObjectName("documents-chip")
            chip.setAccessibleName(f"Remove {label}")
            chip.setToolTip(plain_tip(f"{path or collection} — click to remove it from this "
                                      "chat"))
            if path:
                chip.clicked.connect(lambda _c=False, n=collection, p=path:
                                     self.attachments.detach_file(n, p))
            else:
                chip.clicked.connect(lambda _c=False, n=collection:
                                     self.attachments.drop_collection(n))
            self._chip_row.addWidget(chip)
            self.chips.append(chip)
        self._update_status()

    def chip_labels(self) -> list[str]:
        return [chip.text().removesuffix("  ×").replace("&&", "&") for chip in self.chips]

    @Slot(object)
    def _on_progress(self, _progress: IndexProgress) -> None:
        self._update_status()

    def show_answer_progress(self, *args) -> None:
        """``answer_progress`` from the bridge: the event, or its text."""
        text = ""
        for arg in args:
            text = getattr(arg, "text", arg) if not isinstance(arg, (int, type(None))) else text
        self._answer_note = str(text or "")
        self._update_status()

    def clear_answer_progress(self, *_args) -> None:
        self._answer_note = ""
        self._update_status()

    def _update_status(self) -> None:
        indexing = short_progress(self.controller.last_progress) if self.controller.running \
            else ""
        if indexing and self.controller.paused:
            indexing = "indexing paused"
        self.status.setText(" · ".join(t for t in (self._answer_note, indexing) if t))
        self.setVisible(bool(self.chips or self.status.text()))


class CollectionPicker(QDialog):
    """Tick the named collections this chat uses."""

    def __init__(self, names: Sequence[str], chosen: Sequence[str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Documents for this chat")
        self.setObjectName("collection-picker")
        layout = QVBoxLayout(self)
        note = plain_label("Answers in this chat use the ticked collections "
                           "(Chat ▸ Documents… makes and fills them).")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.list = QListWidget()
        self.list.setAccessibleName("Collections")
        for name in names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in chosen
                               else Qt.CheckState.Unchecked)
            self.list.addItem(item)
        layout.addWidget(self.list, 1)
        if not names:
            layout.addWidget(plain_label("No collections yet."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(380, 360)

    def set_checked(self, name: str, checked: bool) -> None:
        for index in range(self.list.count()):
            item = self.list.item(index)
            if item.text() == name:
                item.setCheckState(Qt.CheckState.Checked if checked
                                   else Qt.CheckState.Unchecked)

    def chosen(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())
                if self.list.item(i).checkState() == Qt.CheckState.Checked]


def offered_collections(all_names: Sequence[str], in_play: Sequence[str]) -> list[str]:
    """Named collections, plus this chat's own attachments (not other chats')."""
    return [n for n in all_names if not is_attachments(n) or n in in_play]
