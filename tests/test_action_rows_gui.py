"""Message action rows shown on hover (issue 19, part 3): a message's row of buttons is
drawn for the message under the pointer, for the message whose link Tab reached, and
always for the last answer; elsewhere it keeps its place, undrawn. Checked on the pixels
of the window (a person sees the row or not), on the fake engine's window."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication, QPalette, QTextCursor

from desktop_app.ui.conversation_view import ShownMessage
from gui_helpers import open_fake_window, send_to_fake, settle_documents, shown_view


@pytest.fixture
def chat(qtbot, services):
    """A window with two questions answered: You, answer, You, answer."""
    window = open_fake_window(qtbot, services, words=3)
    settle_documents(qtbot, window)
    send_to_fake(qtbot, window, "What is a pelican?")
    send_to_fake(qtbot, window, "And a heron?")
    yield window
    window.close()


def _link(view, href: str) -> QTextCursor:
    """A cursor on the first character of the link ``href``."""
    block = view.document().begin()
    while block.isValid():
        iterator = block.begin()
        while not iterator.atEnd():
            fragment = iterator.fragment()
            if fragment.charFormat().anchorHref() == href:
                cursor = QTextCursor(view.document())
                cursor.setPosition(fragment.position() + 1)
                return cursor
            iterator += 1
        block = block.next()
    raise AssertionError(f"no link {href}")


def _message_ids(view) -> list[int]:
    """The messages in order, from their Copy buttons."""
    ids, block = [], view.document().begin()
    while block.isValid():
        iterator = block.begin()
        while not iterator.atEnd():
            href = iterator.fragment().charFormat().anchorHref()
            if href.startswith("action:copy:"):
                ids.append(int(href.rpartition(":")[2]))
            iterator += 1
        block = block.next()
    return ids


def _button_rect(view, message_id: int, verb: str):
    """Where a button of a message is on screen (viewport coordinates)."""
    return view.cursorRect(_link(view, f"action:{verb}:{message_id}")).adjusted(-4, -2, 30, 2)


def _drawn(view, message_id: int, verb: str = "copy") -> bool:
    """Whether anything but the page's background is painted where a button of the
    message is (Copy by default): its fill, border or word."""
    view.viewport().repaint()
    image = view.viewport().grab().toImage()
    ratio = image.devicePixelRatio()
    base = view.palette().color(QPalette.ColorRole.Base).rgb()
    rect = _button_rect(view, message_id, verb)
    for x in range(rect.left(), rect.right()):
        for y in range(rect.top(), rect.bottom()):
            if image.pixel(int(x * ratio), int(y * ratio)) != base:
                return True
    return False


def test_a_rows_shown_for_the_message_under_the_pointer_and_hidden_elsewhere(qtbot, chat):
    view = chat.view
    question, answer, second_question, last_answer = _message_ids(view)
    height = view.document().size().height()
    over_second_question = view.cursorRect(view.document().find("And a heron?")).center()
    qtbot.mouseMove(view.viewport(), over_second_question)
    qtbot.waitUntil(lambda: _drawn(view, second_question), timeout=2000)  # under the pointer
    assert not _drawn(view, answer) and not _drawn(view, question)
    assert _drawn(view, last_answer)                 # the last answer, always

    over_answer = view.cursorRect(_link(view, f"action:copy:{answer}")).center() - QPoint(0, 40)
    assert view.message_at(over_answer) == answer    # the answer's text, above its row
    qtbot.mouseMove(view.viewport(), over_answer)
    qtbot.waitUntil(lambda: _drawn(view, answer), timeout=2000)
    assert not _drawn(view, second_question) and _drawn(view, last_answer)
    assert view.document().size().height() == height  # nothing moved

    qtbot.mouseMove(chat.prompt)                     # the pointer leaves the conversation
    qtbot.waitUntil(lambda: not _drawn(view, answer), timeout=2000)
    assert _drawn(view, last_answer)


def test_a_click_on_a_shown_copy_still_copies(qtbot, chat):
    view = chat.view
    answer = _message_ids(view)[1]
    QGuiApplication.clipboard().setText("")
    copy = view.cursorRect(_link(view, f"action:copy:{answer}")).center()
    qtbot.mouseMove(view.viewport(), copy)
    qtbot.waitUntil(lambda: _drawn(view, answer), timeout=2000)
    with qtbot.waitSignal(view.copied):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=copy)
    assert QGuiApplication.clipboard().text() == view.message_text(answer)
    assert QGuiApplication.clipboard().text()


def test_the_row_whose_link_tab_reached_is_shown(qtbot, chat):
    view = chat.view
    question, answer, _, last_answer = _message_ids(view)
    below_the_chat = QPoint(view.viewport().width() // 2, view.viewport().height() - 10)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=below_the_chat)
    qtbot.mouseMove(chat.prompt)   # clicked into the conversation, then the pointer left
    assert not _drawn(view, answer)
    reached = []
    for _ in range(20):   # Tab through the conversation's links, as a person would
        qtbot.keyClick(view, Qt.Key.Key_Tab)
        cursor = view.textCursor()
        probe = QTextCursor(view.document())
        probe.setPosition(cursor.selectionStart() + 1)
        reached.append(probe.charFormat().anchorHref())
        if reached[-1] == f"action:copy:{answer}":
            break
    assert reached[0] == f"action:copy:{question}" and reached[-1] == f"action:copy:{answer}"
    # the whole row, not only the focused button (which is drawn selected in any case)
    assert _drawn(view, answer, "delete") and _drawn(view, answer, "regenerate")
    assert not _drawn(view, question, "delete") and _drawn(view, last_answer)
    with qtbot.waitSignal(view.copied):   # Enter runs it, hidden rows being in the path too
        qtbot.keyClick(view, Qt.Key.Key_Return)


def test_a_streaming_answer_has_no_row_until_it_is_finished(qtbot):
    view = shown_view(qtbot, [ShownMessage(1, "user", "You", "hi"),
                              ShownMessage(2, "assistant", "M", "hello", can_regenerate=True),
                              ShownMessage(3, "user", "You", "again")])
    assert view.rows_shown() == {2}
    view.begin_answer("M", message_id=4, alternative=(2, 2))   # a new version, with ‹ 2/2 ›
    view.append_answer_text("streaming")
    point = view.cursorRect(view.document().find("streaming")).center()
    view.hover_at(point)
    assert view.message_at(point) is None and view.rows_shown() == {2}
    done = []
    view.finish_answer(ShownMessage(4, "assistant", "M", "streaming done",
                                    alternative=(2, 2), can_regenerate=True),
                       on_done=lambda: done.append(True))
    qtbot.waitUntil(lambda: bool(done))
    assert view.rows_shown() == {4}     # the newest answer's row; the earlier one hides
    assert "2/2" in view.toPlainText()
