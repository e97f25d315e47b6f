"""The chat list with its search, and the Markdown-to-rich-text rendering."""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QShortcut, QTextDocument
from PySide6.QtWidgets import QLabel, QTextBrowser

from desktop_app.core.chats import SearchHit
from desktop_app.ui.rich_text import escape_plain, render_markdown
from desktop_app.ui.sidebar import ChatSidebar, when
from gui_helpers import settle_documents


@dataclass(frozen=True)
class Chat:
    id: int
    title: str
    updated_at: float = 0.0
    message_count: int = 2


def make_sidebar(qtbot, hits=()):
    searched = []

    def search(text):
        searched.append(text)
        return [h for h in hits if text.lower() in h.snippet.lower()]

    sidebar = ChatSidebar(search=search)
    qtbot.addWidget(sidebar)
    sidebar.set_chats([Chat(3, "Newest"), Chat(2, "Middle"), Chat(1, "Oldest")], current_id=2)
    return sidebar, searched


def test_setting_chats_selects_without_signalling_and_clicks_open(qtbot):
    sidebar, _ = make_sidebar(qtbot)
    assert sidebar.current_chat_id() == 2
    with qtbot.waitSignal(sidebar.chat_selected) as chosen:
        sidebar.chats.setCurrentRow(1)  # row 0 is the date heading
    assert chosen.args == [3]


def test_search_shows_hits_and_opens_the_message(qtbot):
    sidebar, searched = make_sidebar(qtbot, [SearchHit(1, "Oldest", 11, "user", "the pelican flew",
                                                       ((4, 11),))])
    sidebar.show()
    qtbot.keyClicks(sidebar.search_box, "pelican")
    qtbot.waitUntil(lambda: searched == ["pelican"])  # debounced: one search after typing
    assert sidebar.results.isVisibleTo(sidebar) and not sidebar.chats.isVisibleTo(sidebar)
    with qtbot.waitSignal(sidebar.hit_selected) as hit:
        sidebar._on_hit(sidebar.results.item(0))
    assert hit.args == [1, 11]
    sidebar.search_box.setText("zebra")
    sidebar.run_search()
    assert "No messages match “zebra”" in sidebar.results.item(0).text()
    sidebar.search_box.clear()
    sidebar.run_search()
    assert sidebar.chats.isVisibleTo(sidebar)


def shown_text(markup: str) -> str:
    document = QTextDocument()
    document.setHtml(markup)
    return document.toPlainText()


def test_a_hit_shows_its_text_as_written_and_only_the_match_bold(qtbot):
    title = "<img src=x> chat"
    snippet = "Why is arr[0] <b>empty</b>?"
    start = snippet.index("empty")
    hit = SearchHit(1, title, 11, "user", snippet, ((start, start + len("empty")),))
    sidebar, _ = make_sidebar(qtbot, [hit])
    sidebar.search_box.setText("empty")
    sidebar.run_search()
    label = sidebar.results.itemWidget(sidebar.results.item(0))
    assert isinstance(label, QLabel) and label.textFormat() == Qt.TextFormat.RichText
    assert shown_text(label.text()) == f"{title}\n{snippet}"
    assert label.text().count("<b>") == 2  # the title and the one match: no other bold
    assert "<b>empty</b>" in label.text() and "arr[0]" in label.text()
    assert shown_text(sidebar.results.item(0).toolTip()) == title


def test_rename_and_delete_ask_the_right_things(qtbot, monkeypatch):
    sidebar, _ = make_sidebar(qtbot)
    with qtbot.waitSignal(sidebar.rename_requested) as renamed:
        sidebar.chats.currentItem().setText("  Better name ")
    assert renamed.args == [2, "Better name"]
    monkeypatch.setattr(sidebar, "_confirm_delete", lambda title: False)
    with qtbot.assertNotEmitted(sidebar.delete_requested):
        sidebar.delete_current()
    monkeypatch.setattr(sidebar, "_confirm_delete", lambda title: True)
    with qtbot.waitSignal(sidebar.delete_requested) as deleted:
        sidebar.delete_current()
    assert deleted.args == [2]


def test_friendly_dates():
    now = time.mktime((2026, 11, 28, 15, 0, 0, 0, 0, -1))
    assert when(now - 3600, now) == "14:00"
    assert when(now - 86400, now) == "Yesterday"
    assert when(time.mktime((2026, 3, 3, 9, 0, 0, 0, 0, -1)), now) == "3 Mar"
    assert when(time.mktime((2024, 3, 3, 9, 0, 0, 0, 0, -1)), now) == "3 Mar 2024"


def test_code_blocks_are_highlighted_with_a_copy_link_and_their_raw_code():
    text = "Intro\n\n```python\ndef f(x):\n    return x  \n```\n\n```\nplain\n```\n"
    rendered = render_markdown(text, message_id=42)
    assert "copy:42:0" in rendered.html and "copy:42:1" in rendered.html
    assert "<span style=" in rendered.html  # pygments colours, inline
    first, second = rendered.code_blocks
    assert (first.language, first.code) == ("python", "def f(x):\n    return x  \n")
    assert (second.language, second.code) == ("", "plain\n")


def test_untrusted_markup_is_escaped_and_only_web_links_link():
    rendered = render_markdown("<script>alert(1)</script> <img src=x onerror=y> "
                               "[a](javascript:alert(1)) [b](https://example.org) ![i](x.png)",
                               message_id=1)
    assert "<script" not in rendered.html and "<img" not in rendered.html
    assert "href=\"javascript" not in rendered.html and "href='javascript" not in rendered.html
    assert 'href="https://example.org"' in rendered.html and "[image: i]" in rendered.html


def test_unclosed_fences_tables_and_dark_mode():
    rendered = render_markdown("| a | b |\n|---|---|\n| 1 | 2 |\n\n```js\nlet x = 1", message_id=1)
    assert "<table border='1'" in rendered.html and rendered.code_blocks[0].code == "let x = 1"
    assert render_markdown("```\nx\n```", message_id=1, dark=True).html != \
        render_markdown("```\nx\n```", message_id=1).html
    assert escape_plain("a < b\nc & d") == "a &lt; b<br>c &amp; d"


def test_qt_shows_the_rendered_answer(qtbot):
    browser = QTextBrowser()
    qtbot.addWidget(browser)
    browser.setHtml(render_markdown("**Hi**\n\n```python\nprint('hi')\n```", message_id=1).html)
    text = browser.toPlainText()
    assert "Hi" in text and "print('hi')" in text and "Copy" in text
    assert browser.document().toHtml().count("<table") >= 1


def test_the_lists_keys_work_only_where_they_belong(qtbot, open_window):
    window = settle_documents(qtbot, open_window())
    shortcuts = [s for s in window.panel.sidebar.findChildren(QShortcut)]
    assert shortcuts and all(s.context() == Qt.ShortcutContext.WidgetShortcut for s in shortcuts)


def test_a_single_newline_in_an_answer_stays_a_line_break():
    rendered = render_markdown("Roses are red,\nviolets are blue.", message_id=1, dark=False)
    html = "".join(rendered.parts)
    assert "red,<br" in html and "blue." in html
