"""A streaming answer stays in view: the route line drawn under its heading (Auto's
choice, which arrives just after the heading) must not stop the view following the text,
and a person who scrolled up to read is left there. The heading, written before the model
answering was known, is renamed when the route names it."""

from __future__ import annotations

from desktop_app.ui.conversation_view import ConversationView, ShownMessage
from gui_helpers import shown_view


def _view(qtbot) -> ConversationView:
    long = "A paragraph that fills the view. " * 40
    return shown_view(qtbot, [ShownMessage(1, "user", "You", "hi"),
                              ShownMessage(2, "assistant", "M", long, can_regenerate=True),
                              ShownMessage(3, "user", "You", "and then?")], size=(700, 300))


def _at_bottom(view) -> bool:
    bar = view.verticalScrollBar()
    return bar.maximum() > 0 and bar.value() == bar.maximum()


def test_the_route_line_does_not_stop_the_view_following_the_answer(qtbot):
    view = _view(qtbot)
    view.begin_answer("M", message_id=4)
    assert _at_bottom(view)
    view.set_answer_route("General chat · M · no clear sign of a task")
    view.set_answer_route("Summarize · M · the words 'summarize'")   # a later choice
    for _ in range(20):
        view.append_answer_text("more words that stream in, line after line. ")
        assert _at_bottom(view)


def test_a_person_who_scrolled_up_is_left_where_they_read(qtbot):
    view = _view(qtbot)
    view.begin_answer("M", message_id=4)
    view.verticalScrollBar().setValue(0)
    view.set_answer_route("General chat · M · no clear sign of a task")
    view.append_answer_text("more words " * 50)
    assert view.verticalScrollBar().value() == 0


def test_the_heading_is_renamed_and_the_route_line_under_it_kept_whole(qtbot):
    view = _view(qtbot)
    view.begin_answer("Assistant", message_id=4)
    view.set_answer_route("Code assistant · loading Coder 1.5B… · a code block")
    view.set_answer_speaker("Coder 1.5B")     # shorter than the placeholder
    view.set_answer_route("Code assistant · Coder 1.5B · a code block")
    view.set_answer_speaker("Coder 1.5B")     # the same name: nothing changes
    view.append_answer_text("def f(): pass")
    tail = view.toPlainText().split("and then?", 1)[1]
    assert tail.split("\n")[-3:] == ["Coder 1.5B", "Code assistant · Coder 1.5B · a code block",
                                    "def f(): pass"]
    assert "Assistant" not in tail and "loading" not in tail
