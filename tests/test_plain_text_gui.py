"""Names, paths and messages Scalpel does not control are shown as text, never as HTML."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox

from desktop_app.core.catalog import load_catalog
from desktop_app.core.engine import ModelInfo
from desktop_app.ui.error_banner import ErrorBanner
from desktop_app.ui.model_manager.catalog_tab import CatalogTab
from desktop_app.ui.model_manager.downloads_panel import DownloadRow
from desktop_app.ui.model_details import ModelDetailsDialog
from desktop_app.ui.notice_bar import NoticeBar
from desktop_app.ui.plain_text import plain_tip, question_box
from desktop_app.ui.status_line import StatusLine

HOSTILE = "<b>bold</b><img src=x>"
PLAIN = Qt.TextFormat.PlainText


def info(name: str = HOSTILE) -> ModelInfo:
    return ModelInfo(path=f"/models/{name}.gguf", name=name, architecture="llama",
                     quantization="Q4_1", parameter_count=134_515_008, file_size=98_000_000,
                     context_size=4096, trained_context=8192, n_threads=2, n_gpu_layers=0,
                     chat_template=f"fallback: chatml ({HOSTILE})", load_seconds=0.5)


def shown(markup: str) -> str:
    """What Qt shows for rich text."""
    document = QTextDocument()
    document.setHtml(markup)
    return document.toPlainText()


def test_the_status_line_shows_a_hostile_model_name_as_written(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    status = StatusLine(window.statusBar())
    status.set_loading(HOSTILE)
    assert status.loading_label.textFormat() == PLAIN
    assert status.loading_label.text() == f"Loading {HOSTILE}…"
    status.show_model(info())
    assert status.model.textFormat() == PLAIN and status.model.text().startswith(HOSTILE)
    assert shown(status.model.toolTip()).startswith(f"Chat template: fallback: chatml ({HOSTILE})")
    status.show_queued(HOSTILE)
    assert status.model.text() == f"{HOSTILE} loads when this answer ends…"


def test_model_details_show_every_value_as_written(qtbot):
    dialog = ModelDetailsDialog(info(), [HOSTILE])
    qtbot.addWidget(dialog)
    labels = {label.accessibleName(): label for label in dialog.findChildren(QLabel)}
    for name in ("Model", "File", "Chat template", "Kept loaded"):
        assert labels[name].textFormat() == PLAIN, name
        assert HOSTILE in labels[name].text(), name


@pytest.mark.parametrize("bar", [ErrorBanner, NoticeBar])
def test_banners_show_messages_as_written(qtbot, bar):
    widget = bar()
    qtbot.addWidget(widget)
    message = f"could not load {HOSTILE}: the file is truncated & unusable"
    if isinstance(widget, ErrorBanner):
        widget.show_message(message)
    else:
        widget.show_notice(message)
    assert widget.message() == message
    assert widget._label.textFormat() == PLAIN


def test_the_model_manager_escapes_names_it_mixes_with_markup(qtbot):
    row = DownloadRow(1, HOSTILE)
    qtbot.addWidget(row)
    assert shown(row.name.text()) == HOSTILE and row.detail.textFormat() == PLAIN
    tab = CatalogTab(load_catalog(), 4096)
    qtbot.addWidget(tab)
    entry = tab.entries[0] = replace(tab.entries[0], description=HOSTILE)
    tab.table.selectRow(0)
    tab._show_detail()
    assert tab.detail.textFormat() == Qt.TextFormat.RichText
    assert f"{entry.name} — {HOSTILE}" in shown(tab.detail.text())


def test_tooltips_and_questions_never_read_markup(qapp):
    assert shown(plain_tip(f"{HOSTILE}\nsecond line & more")) == f"{HOSTILE}\nsecond line & more"
    assert plain_tip("A plain description.") == "A plain description."  # unchanged
    assert shown(plain_tip("Tom &lt; Jerry")) == "Tom &lt; Jerry"
    box = question_box(None, "Delete chat", f"Delete the chat “{HOSTILE}”?",
                       QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                       QMessageBox.StandardButton.No)
    assert box.textFormat() == PLAIN and box.text() == f"Delete the chat “{HOSTILE}”?"
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)
