"""The details people notice (issue 19, part 3): JSON answers as a JSON block, files that
say where they went, a chat list grouped by date, message buttons, a readable column,
the chat list hidden with Ctrl+B, readable colours in dark themes, the model's path.
The window runs on the contract's fake engine: these are about the window, not answers."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication, QPalette, QTextCursor
from PySide6.QtWidgets import QApplication, QFileDialog

from desktop_app.ui.conversation_view import ConversationView, ShownMessage
from desktop_app.ui.rich_text import json_document, render_markdown
from desktop_app.ui.sidebar import ChatSidebar, date_group
from gui_helpers import open_fake_window, send_to_fake, settle_documents, shown_view


@pytest.fixture
def fake_window(qtbot, services):
    window = open_fake_window(qtbot, services, words=2)
    settle_documents(qtbot, window)
    window.services = services
    yield window
    window.close()


send = send_to_fake


def contrast(first, second) -> float:
    def luminance(colour) -> float:
        channels = []
        for value in (colour.redF(), colour.greenF(), colour.blueF()):
            channels.append(value / 12.92 if value <= 0.03928
                            else ((value + 0.055) / 1.055) ** 2.4)
        return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]

    low, high = sorted((luminance(first), luminance(second)))
    return (high + 0.05) / (low + 0.05)


# -- JSON answers ---------------------------------------------------------------------------
def test_a_json_answer_is_one_indented_json_block_with_copy(qtbot):
    answer = '{"name": "Ada", "languages": ["en", "fr"], "age": 36}'
    rendered = render_markdown(answer, message_id=7)
    assert [b.language for b in rendered.code_blocks] == ["json"]
    code = rendered.code_blocks[0].code
    assert json.loads(code) == json.loads(answer) and '\n  "languages": [' in code
    assert "copy:7:0" in rendered.html
    view = ConversationView()
    qtbot.addWidget(view)
    view.show_messages([ShownMessage(7, "assistant", "M", answer, preset_id="json")])
    view._copy_code(7, 0)
    assert QGuiApplication.clipboard().text() == code
    assert '  "age": 36' in view.toPlainText()  # one key per line, indented


def test_the_json_task_shows_even_a_cut_answer_as_code_and_prose_stays_prose():
    cut = '{"name": "Ada", "langu'
    assert json_document(cut) is None
    assert json_document(cut, preset_id="json") == cut
    assert render_markdown(cut, message_id=1, preset_id="json").code_blocks[0].code == cut
    prose = "{braces} in a sentence are *Markdown*"
    assert render_markdown(prose, message_id=1).code_blocks == ()
    assert json_document('"just a string"') is None and json_document("[1, 2]") == \
        "[\n  1,\n  2\n]"


def test_the_window_shows_an_answer_of_the_json_task_as_a_json_block(qtbot, fake_window):
    fake_window.tasks.actions["json"].trigger()
    send(qtbot, fake_window, "Extract the invoice")
    answer = fake_window.chat.path[-1]
    assert answer.preset_id == "json"
    blocks = fake_window.view._code[answer.id]
    assert [b.language for b in blocks] == ["json"]
    fake_window.chat.render()  # reopened: the same
    assert [b.language for b in fake_window.view._code[answer.id]] == ["json"]


# -- Export, Back up, folders -------------------------------------------------------------
def test_export_and_back_up_say_where_the_file_went_with_show_in_folder(
        qtbot, fake_window, tmp_path, monkeypatch):
    send(qtbot, fake_window, "hello")
    opened = []
    monkeypatch.setattr("desktop_app.ui.file_dialogs.QDesktopServices.openUrl",
                        lambda url: opened.append(url.toLocalFile()) or True)
    target = tmp_path / "out" / "chat.md"
    target.parent.mkdir()
    fake_window.panel.files.export_chat(fake_window.chat.chat_id, "md", str(target))
    notice = fake_window.notice
    assert notice.isVisible() and str(target) in notice.message()
    assert notice.message().startswith("Exported")
    notice.button("Show in folder").click()
    assert opened == [str(target.parent)]
    backup = tmp_path / "backup.json"
    fake_window.panel.files.export_everything(str(backup))
    assert notice.message() == f"Backed up 1 chat to {backup}"
    assert notice.button("Show in folder").accessibleDescription()


def test_file_dialogs_open_in_the_last_folder_used_even_after_a_restart(
        qtbot, fake_window, tmp_path, monkeypatch):
    send(qtbot, fake_window, "hello")
    asked = []

    def save_name(_parent, _title, start, _filter):
        asked.append(start)
        return str(tmp_path / "exports" / "mine.md"), ""

    (tmp_path / "exports").mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_name)
    fake_window.panel.files.export_chat(fake_window.chat.chat_id, "md")
    fake_window.panel.files.export_everything()
    assert asked[1].startswith(str(tmp_path / "exports"))
    services = fake_window.services
    saved = json.loads((services.paths.config_dir / "settings.json").read_text())
    assert saved["last_folder"] == str(tmp_path / "exports")

    opened = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda _p, _t, start, _f: (opened.append(start), ("", ""))[1])
    fake_window.open_model_file()
    fake_window.import_chats()
    assert opened == [str(tmp_path / "exports")] * 2


def test_a_folder_that_has_gone_falls_back_to_home(tmp_path):
    from pathlib import Path

    from desktop_app.ui.file_dialogs import FolderMemory

    memory = FolderMemory(load=lambda: str(tmp_path / "gone"))
    assert memory.folder() == Path.home()


# -- the chat list by date ----------------------------------------------------------------
@dataclass(frozen=True)
class Chat:
    id: int
    title: str
    updated_at: float
    message_count: int = 2


def test_chats_are_grouped_under_date_headings(qtbot):
    now = time.mktime((2026, 11, 30, 15, 0, 0, 0, 0, -1))
    day = 86_400
    at = [now - 60, now - day, now - 3 * day, now - 20 * day, now - 300 * day]
    assert [date_group(t, now) for t in at] == [
        "Today", "Yesterday", "Previous 7 days", "November", "February"]
    assert date_group(now - 400 * day, now) == "October 2025"
    sidebar = ChatSidebar(search=lambda _text: [])
    qtbot.addWidget(sidebar)
    chats = [Chat(i + 1, f"chat {i + 1}", t) for i, t in enumerate(at)]
    sidebar.set_chats(chats, current_id=1, now=now)
    assert sidebar.headings() == ["Today", "Yesterday", "Previous 7 days", "November",
                                  "February"]
    assert sidebar.chat_titles() == [c.title for c in chats]
    heading = sidebar.chats.item(2)  # "Yesterday"
    assert not heading.flags() & Qt.ItemFlag.ItemIsSelectable
    sidebar.show()
    sidebar.chats.setFocus()
    with qtbot.waitSignal(sidebar.chat_selected) as chosen:
        qtbot.keyClick(sidebar.chats, Qt.Key.Key_Down)  # past the heading, to chat 2
    assert chosen.args == [2]
    assert heading.foreground().color() != sidebar.palette().color(
        QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)


# -- message buttons ------------------------------------------------------------------------
def _view_with_answer(qtbot) -> ConversationView:
    return shown_view(qtbot, [ShownMessage(1, "user", "You", "hi"),
                              ShownMessage(2, "assistant", "M", "hello", can_regenerate=True,
                                           alternative=(1, 2))])


def test_message_actions_are_reached_with_tab_and_run_with_enter(qtbot):
    view = _view_with_answer(qtbot)
    view.setFocus()
    focused = []
    for _ in range(12):  # Tab, as a person would, until Regenerate is reached
        qtbot.keyClick(view, Qt.Key.Key_Tab)
        focused.append(_anchor_of(view, view.textCursor()))
        if focused[-1] == "action:regenerate:2":
            break
    assert focused[:2] == ["action:copy:1", "action:edit:1"]
    assert focused[-1] == "action:regenerate:2"
    assert view.textCursor().hasSelection()  # the focused button is shown selected
    view.setFocus()
    ring = view.focused_link_rect()  # drawn around it in the highlight colour
    if view.hasFocus():  # (an offscreen window may not take focus)
        assert ring is not None and ring.contains(view.cursorRect(view.textCursor()).center())
        point = view.viewport().mapFromGlobal(view.action_point())  # Answer as… opens here
        assert ring.adjusted(-2, -2, 2, 2).contains(point)
    with qtbot.waitSignal(view.action_requested) as asked:
        qtbot.keyClick(view, Qt.Key.Key_Return)
    assert asked.args == ["regenerate", 2]


def _anchor_of(view, cursor) -> str:
    probe = QTextCursor(view.document())
    probe.setPosition(cursor.selectionStart() + 1)
    return probe.charFormat().anchorHref()


def test_a_click_on_a_buttons_padding_counts_and_the_row_is_button_like(qtbot):
    view = _view_with_answer(qtbot)
    find = view.document().find("Regenerate")
    rect = view.cursorRect(find)
    beside_the_word = QPoint(rect.right() + 5, rect.center().y())  # in the cell's padding
    assert not view.anchorAt(beside_the_word)
    with qtbot.waitSignal(view.action_requested) as asked:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=beside_the_word)
    assert asked.args == ["regenerate", 2]
    assert find.currentTable() is not None  # a bordered cell, not an underlined word
    assert not find.charFormat().fontUnderline()
    assert "2/2" not in view.toPlainText() and "1/2" in view.toPlainText()


# -- a readable column; Ctrl+B --------------------------------------------------------------
def test_a_wide_window_keeps_a_readable_centred_column(qtbot):
    view = ConversationView()
    qtbot.addWidget(view)
    view.show_messages([ShownMessage(1, "assistant", "M", "word " * 400)])
    view.resize(2400, 600)
    view.show()
    qtbot.waitExposed(view)
    frame = view.document().rootFrame().frameFormat()
    assert frame.leftMargin() > 0 and frame.leftMargin() == frame.rightMargin()
    block = view.document().findBlock(view.document().find("word").position())
    width = block.layout().boundingRect().width()
    assert width <= view.column_width() + 2
    assert view.column_width() < view.viewport().width() / 2
    view.resize(500, 600)
    qtbot.wait(10)
    assert view.document().rootFrame().frameFormat().leftMargin() == 14  # the usual margin


def test_ctrl_b_hides_and_shows_the_chat_list(qtbot, fake_window):
    sidebar = fake_window.panel.sidebar
    sidebar.focus_search()
    qtbot.keyClick(fake_window, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    assert sidebar.isHidden() and not fake_window.sidebar_action.isChecked()
    assert QApplication.focusWidget() is fake_window.prompt  # not left on a hidden box
    qtbot.keyClick(fake_window, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    assert not sidebar.isHidden() and fake_window.sidebar_action.isChecked()


# -- dark themes ---------------------------------------------------------------------------
def test_the_catalogs_fit_words_are_readable_in_light_and_dark(qtbot, services):
    from desktop_app.ui.model_manager.catalog_tab import FIT_COLUMN, CatalogTab
    from desktop_app.ui.settings.theme import dark_palette, light_palette

    tab = CatalogTab(services.catalog, 4096)
    qtbot.addWidget(tab)
    for palette in (dark_palette(), light_palette()):
        tab.setPalette(palette)
        QApplication.processEvents()
        table = tab.table
        for row in range(table.rowCount()):
            item = table.item(row, FIT_COLUMN)
            colour = item.foreground().color()
            for role in (QPalette.ColorRole.Base, QPalette.ColorRole.AlternateBase):
                ratio = contrast(colour, palette.color(role))
                assert ratio >= 4.5, (item.text(), colour.name(), ratio)


# -- model details ---------------------------------------------------------------------------
def test_model_details_show_the_whole_path_elided_in_the_middle_and_copyable(qtbot):
    from desktop_app.core.engine import ModelInfo
    from desktop_app.ui.model_details import ModelDetailsDialog

    path = "/home/someone/" + "very-long-folder-name/" * 8 + "model-Q4_K_M.gguf"
    info = ModelInfo(path=path, name="M", architecture="llama", quantization="Q4_K_M",
                     parameter_count=1, file_size=1, context_size=512, trained_context=None,
                     n_threads=1, n_gpu_layers=0, chat_template="chatml", load_seconds=0.1)
    dialog = ModelDetailsDialog(info, ["M"])
    qtbot.addWidget(dialog)
    dialog.resize(500, 400)
    dialog.show()
    qtbot.waitExposed(dialog)
    label = dialog.path_field.label
    shown = label.text()
    assert "…" in shown and shown.startswith("/home/") and shown.endswith("Q4_K_M.gguf")
    assert label.toolTip() == path and label.accessibleDescription() == path
    dialog.path_field.copy_button.click()
    assert QGuiApplication.clipboard().text() == path
