"""Model details: what is loaded, how, and with which chat template."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QVBoxLayout, QWidget

from ..core.engine import ModelInfo
from ..core.errors import format_size
from .plain_text import plain_label


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


class ModelDetailsDialog(QDialog):
    def __init__(self, info: ModelInfo, loaded: list[str], parent: QWidget | None = None, *,
                 extra_rows: list[tuple[str, str]] = ()) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model details — {info.name}")
        form = QFormLayout()
        self.rows = detail_rows(info, loaded) + list(extra_rows)
        for label, value in self.rows:
            field = plain_label(value)  # the values come from the model's file
            field.setWordWrap(True)
            field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
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
