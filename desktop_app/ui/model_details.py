"""Model details: what is loaded, how, and with which chat template.

The file's path is shown whole when it fits and elided in the middle when it does not
(the folder's start and the file name are what tell two files apart); the tooltip and
the accessible description hold the whole path, and Copy puts it on the clipboard.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel,
                               QPushButton, QSizePolicy, QVBoxLayout, QWidget)

from ..core.engine import ModelInfo
from ..core.errors import format_size
from .plain_text import plain_label, plain_tip


def detail_rows(info: ModelInfo, loaded: list[str]) -> list[tuple[str, str]]:
    trained = f" (trained for {info.trained_context:,})" if info.trained_context else ""
    return [
        ("Model", info.name),
        ("File", info.path),
        ("Architecture", info.architecture),
        ("Parameters", f"{info.parameter_count / 1e6:,.0f} M"),
        ("Quantization", info.quantization),
        ("File size", format_size(info.file_size)),
        ("Context", f"{info.context_size:,} tokens{trained}"),
        ("CPU threads", str(info.n_threads) + (f" ({info.threads_reason})"
                                               if info.threads_reason else "")),
        ("GPU layers", info.offload or ("none (CPU only)" if info.n_gpu_layers == 0
                                        else str(info.n_gpu_layers))),
        ("Chat template", info.chat_template),
        ("Load time", f"{info.load_seconds:.2f} s"),
        ("Kept loaded", ", ".join(loaded) or info.name),
    ]


class ElidedPath(QLabel):
    """A path elided in the middle to the label's width; the whole path in its tooltip."""

    def __init__(self, path: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setToolTip(plain_tip(path))
        self.setAccessibleDescription(path)
        self.setMinimumWidth(120)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(path)  # elided once it is laid out and has a width

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        self.setText(self.fontMetrics().elidedText(self.path, Qt.TextElideMode.ElideMiddle,
                                                   max(self.width(), 40)))


class PathField(QWidget):
    """The file row: the elided path and a Copy button."""

    def __init__(self, path: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = ElidedPath(path)
        self.label.setAccessibleName("File")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setAccessibleName("Copy the file's path")
        self.copy_button.setAccessibleDescription(path)
        self.copy_button.setToolTip("Copy the whole path")
        self.copy_button.clicked.connect(
            lambda: QGuiApplication.clipboard().setText(path))
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label, 1)
        row.addWidget(self.copy_button)


class ModelDetailsDialog(QDialog):
    def __init__(self, info: ModelInfo, loaded: list[str], parent: QWidget | None = None, *,
                 extra_rows: list[tuple[str, str]] = ()) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model details — {info.name}")
        form = QFormLayout()
        self.rows = detail_rows(info, loaded) + list(extra_rows)
        self.path_field: PathField | None = None
        for label, value in self.rows:
            if label == "File":
                self.path_field = PathField(value)
                form.addRow("File:", self.path_field)
                continue
            field = plain_label(value)  # the values come from the model's file
            field.setWordWrap(True)
            field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                          | Qt.TextInteractionFlag.TextSelectableByKeyboard)
            field.setAccessibleName(label)
            form.addRow(f"{label}:", field)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.resize(560, 0)

    def value(self, label: str) -> str:
        return dict(self.rows)[label]
