"""ChatSession, the conversation core, without Qt and without llama.cpp (a fake engine)."""

from __future__ import annotations

import queue
import sqlite3
import threading

import pytest

from desktop_app.core.chats import ChatStore
from desktop_app.core.engine import GenerationParams, LoadOptions
from desktop_app.core.errors import EngineError, NoModelLoadedError, SessionBusyError
from desktop_app.core.presets import Preset
from desktop_app.core.session import (AnswerFailed, AnswerFinished, AnswerStarted, AnswerText,
                                      ChatSession, ChatShown, ModelLoaded, ModelQueued, Notice,
                                      QuestionAdded, SessionState, StateChanged)
from fake_engine import FakeEngine

PRESETS = {"shout": Preset(id="shout", name="Shout", system_prompt="Answer loudly.",
                           input_template="{input}!")}


class Recorder:
    def __init__(self, session: ChatSession) -> None:
        self.events: queue.Queue = queue.Queue()
        session.subscribe(self.events.put)

    def until(self, kind, timeout=10):
        seen = []
        while True:
            event = self.events.get(timeout=timeout)
            seen.append(event)
            if isinstance(event, kind):
                return seen

    def states(self, seen):
        return [e.state for e in seen if isinstance(e, StateChanged)]


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"GGUF")
    return path


@pytest.fixture
def store(tmp_path):
    chats = ChatStore(tmp_path / "chats.sqlite3")
    yield chats
    chats.close()


def make_session(store, model_file, **engine_options):
    engine = FakeEngine(**engine_options)
    engine.load(model_file, name="Fake")
    session = ChatSession(store, engine, preset_for=PRESETS.get, save_interval_s=0.01)
    return session, engine, Recorder(session)


def test_a_message_is_saved_streamed_and_finished(store, model_file):
    session, engine, rec = make_session(store, model_file)
    assert session.send("hello there")
    seen = rec.until(AnswerFinished)
    assert [type(e) for e in seen[:2]] == [QuestionAdded, AnswerStarted]
    assert "".join(e.text for e in seen if isinstance(e, AnswerText)).startswith("echo hello")
    assert rec.states(seen)[0] == SessionState.ANSWERING
    session.wait_idle(5)
    assert session.state == SessionState.IDLE and not session.answering
    chat = store.get_chat(session.chat_id)
    assert chat.title == "hello there"
    user, answer = store.path(session.chat_id)
    assert (user.role, user.content, answer.status) == ("user", "hello there", "complete")
    assert answer.content == seen[-1].finished.text and answer.model == "Fake"
    assert [m.id for m in session.path] == [user.id, answer.id]


def test_the_preset_supplies_system_prompt_template_and_sampling(store, model_file):
    session, engine, rec = make_session(store, model_file)
    session.set_preset(PRESETS["shout"])
    session.send("hi")
    rec.until(AnswerFinished)
    assert engine.requests[-1] == [{"role": "system", "content": "Answer loudly."},
                                   {"role": "user", "content": "hi!"}]
    assert store.get_chat(session.chat_id).preset_id == "shout"


def test_stop_before_the_first_word_takes_the_message_back(store, model_file):
    session, engine, rec = make_session(store, model_file)
    engine.gate.clear()
    session.send("never mind")
    rec.until(AnswerStarted)
    session.stop()
    assert session.state == SessionState.STOPPING
    engine.gate.set()
    finished = rec.until(AnswerFinished)[-1]
    assert finished.message is None and finished.restore_text == "never mind"
    session.wait_idle(5)
    assert store.list_chats() == [] and session.chat_id is None and session.path == []
    assert session.state == SessionState.IDLE


def test_stop_mid_answer_keeps_what_was_written(store, model_file):
    session, engine, rec = make_session(store, model_file, words=400, delay=0.002)
    session.send("long")
    rec.until(AnswerText)
    rec.until(AnswerText)
    session.stop()
    finished = rec.until(AnswerFinished)[-1]
    assert finished.finished.reason == "cancelled" and finished.restore_text is None
    stored = store.message(finished.message.id)
    assert stored.status == "cancelled" and stored.content == finished.message.content != ""


def test_the_answer_is_saved_while_it_streams(store, model_file):
    session, engine, rec = make_session(store, model_file, words=300, delay=0.002)
    session.send("stream")
    started = rec.until(AnswerStarted)[-1]
    saved = []
    while not saved or (saved[-1].status == "partial" and len(saved) < 500):
        rec.until(AnswerText)
        saved.append(store.message(started.message.id))
    partial_texts = [m.content for m in saved if m.status == "partial" and m.content]
    assert partial_texts, "nothing was saved while the answer streamed"
    session.stop()
    session.wait_idle(5)


def test_an_engine_failure_gives_the_question_back_and_the_next_send_works(store, model_file):
    session, engine, rec = make_session(store, model_file,
                                        fail_with=EngineError("the engine broke"))
    session.send("first")
    failed = rec.until(AnswerFailed)[-1]
    assert failed.error == "the engine broke" and failed.restore_text == "first"
    session.wait_idle(5)
    assert session.state == SessionState.FAILED and session.error == "the engine broke"
    assert store.list_chats() == []
    engine.fail_with = None
    session.send("second")
    rec.until(AnswerFinished)
    session.wait_idle(5)
    assert session.state == SessionState.IDLE


def test_one_answer_at_a_time_and_no_branch_change_under_it(store, model_file):
    session, engine, rec = make_session(store, model_file)
    engine.gate.clear()
    session.send("one")
    with pytest.raises(SessionBusyError):
        session.send("two")
    with pytest.raises(SessionBusyError):
        session.open_chat(None)
    engine.gate.set()
    rec.until(AnswerFinished)


def test_without_a_model_the_reason_is_typed(store):
    session = ChatSession(store, FakeEngine(), preset_for=PRESETS.get)
    with pytest.raises(NoModelLoadedError):
        session.send("hello")
    assert store.list_chats() == []


def test_regenerate_adds_a_version_and_shows_it_is_one(store, model_file):
    session, engine, rec = make_session(store, model_file)
    session.send("q1")
    first = rec.until(AnswerFinished)[-1].message
    session.send("q2")
    rec.until(AnswerFinished)
    session.wait_idle(5)
    session.regenerate(first.id)  # an earlier answer: the turns after it move to version 1
    started = rec.until(AnswerStarted)[-1]
    assert started.alternative == (2, 2)
    rec.until(AnswerFinished)
    session.wait_idle(5)
    assert [m.content for m in session.path][0] == "q1" and len(session.path) == 2
    session.show_alternative(session.path[-1].id, -1)
    shown = rec.until(ChatShown)[-1]
    assert [m.content for m in shown.path if m.role == "user"] == ["q1", "q2"]


def test_an_edit_is_a_new_version_of_the_question(store, model_file):
    session, engine, rec = make_session(store, model_file)
    session.send("teh question")
    rec.until(AnswerFinished)
    session.wait_idle(5)
    original = session.path[0]
    session.send("the question", replacing=original.id)
    added = rec.until(QuestionAdded)[-1]
    assert added.replaced == original.id
    rec.until(AnswerFinished)
    session.wait_idle(5)
    assert session.path[0].content == "the question"
    assert [s.content for s in store.siblings(session.path[0].id)] == ["teh question",
                                                                        "the question"]


def test_a_message_sent_while_the_model_loads_waits_for_it(store, model_file, tmp_path):
    engine = FakeEngine()
    session = ChatSession(store, engine, preset_for=PRESETS.get)
    rec = Recorder(session)
    session.load_model(str(model_file), LoadOptions(), "Late model")
    assert session.state == SessionState.LOADING
    session.send("are you there")
    seen = rec.until(AnswerFinished)
    assert any(isinstance(e, ModelLoaded) for e in seen)
    assert seen[-1].message.content.startswith("echo are you there")
    # begun before the model was known, the answer is saved under its name all the same
    assert seen[-1].message.model == "Late model"
    session.wait_idle(5)
    assert store.path(session.chat_id)[-1].model == "Late model"


def test_a_load_asked_for_during_an_answer_waits_for_it(store, model_file, tmp_path):
    session, engine, rec = make_session(store, model_file)
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")
    engine.gate.clear()
    session.send("hi")
    session.load_model(str(model_file), LoadOptions(), "Ignored")
    session.load_model(str(other), LoadOptions(), "Other")  # only the latest is kept
    assert isinstance(rec.until(ModelQueued)[-1], ModelQueued)
    assert session.model.name == "Fake"
    engine.gate.set()
    loaded = rec.until(ModelLoaded)[-1]
    assert loaded.info.name == "Other" and session.model.name == "Other"


def test_new_chat_during_an_answer_stops_it_and_keeps_it_in_its_chat(store, model_file):
    session, engine, rec = make_session(store, model_file, words=400, delay=0.002)
    session.send("long one")
    first_chat = session.chat_id
    rec.until(AnswerText)
    session.new_chat()
    assert session.chat_id is None and session.path == []
    finished = rec.until(AnswerFinished)[-1]
    assert finished.chat_id == first_chat and finished.message.status == "cancelled"
    session.wait_idle(5)
    assert session.chat_id is None and session.path == []


def test_a_full_disk_while_answering_keeps_the_text_and_returns_to_idle(tmp_path, model_file):
    class FullDisk(ChatStore):
        full = False

        def update_message(self, *args, **kwargs):
            if self.full:
                from desktop_app.core.chats.store import write_error
                raise write_error(self.file, sqlite3.OperationalError("database or disk is full"))
            return super().update_message(*args, **kwargs)

    store = FullDisk(tmp_path / "chats.sqlite3")
    session, engine, rec = make_session(store, model_file, words=50, delay=0.002)
    store.full = True
    session.send("tell me")
    seen = rec.until(AnswerFinished)
    notices = [e for e in seen if isinstance(e, Notice)]
    assert len(notices) == 1 and "disk is full" in notices[0].text
    assert seen[-1].message.content == seen[-1].finished.text != ""
    session.wait_idle(5)
    assert session.state == SessionState.IDLE
    store.full = False
    session.send("again")  # the window is usable again
    rec.until(AnswerFinished)
    assert store.integrity_ok()


def test_close_keeps_an_unfinished_answer(store, model_file):
    session, engine, rec = make_session(store, model_file, words=400, delay=0.002)
    session.send("long")
    rec.until(AnswerText)
    session.close()
    answer = store.path(session.chat_id)[-1]
    assert answer.status == "cancelled" and answer.content


def test_events_come_from_the_worker_not_the_callers_thread(store, model_file):
    session, engine, rec = make_session(store, model_file)
    threads = set()
    session.subscribe(lambda e: isinstance(e, AnswerText) and threads.add(
        threading.current_thread().name))
    session.send("x")
    rec.until(AnswerFinished)
    assert threads == {"scalpel-session"}


def test_default_sampling_without_a_preset(store, model_file):
    engine = FakeEngine()
    engine.load(model_file)
    session = ChatSession(store, engine, preset_for=PRESETS.get,
                          default_params=lambda: GenerationParams(max_tokens=2))
    rec = Recorder(session)
    session.send("one two three")
    assert rec.until(AnswerFinished)[-1].finished.stats.completion_tokens == 2


def test_two_sessions_on_one_store_each_keep_their_own_branch(tmp_path, model_file):
    """A window and `scalpel chat` (or a second window) on the same chat: each continues
    its own branch; neither model sees the other's turns."""
    first = ChatStore(tmp_path / "shared.sqlite3")
    second = ChatStore(tmp_path / "shared.sqlite3")
    a, engine_a, rec_a = make_session(first, model_file)
    a.send("start")
    rec_a.until(AnswerFinished)
    a.wait_idle(5)
    b, engine_b, rec_b = make_session(second, model_file)
    b.open_chat(a.chat_id)
    for turn in range(2):
        a.send(f"A{turn}")
        rec_a.until(AnswerFinished)
        a.wait_idle(5)
        b.send(f"B{turn}")
        rec_b.until(AnswerFinished)
        b.wait_idle(5)
    users = lambda session: [m.content for m in session.path if m.role == "user"]  # noqa: E731
    assert users(a) == ["start", "A0", "A1"] and users(b) == ["start", "B0", "B1"]
    assert [m["content"] for m in engine_b.requests[-1] if m["role"] == "user"] == \
        ["start", "B0", "B1"]
    a.open_chat(a.chat_id)  # reopened: the branch used last, as before
    assert users(a) == ["start", "B0", "B1"]
    first.close()
    second.close()


def test_text_with_lone_surrogates_is_stored_with_replacement_characters(store, model_file):
    session, engine, rec = make_session(store, model_file)
    session.send("caf\udce9 ok")  # an undecodable byte from a terminal's arguments
    rec.until(AnswerFinished)
    stored = store.path(session.chat_id)[0].content
    assert "\ufffd" in stored and stored.endswith(" ok") and "\udce9" not in stored


def test_a_full_disk_between_the_question_and_the_answer_row_takes_the_question_back(
        tmp_path, model_file):
    class FullAfterQuestion(ChatStore):
        def add_message(self, *args, **kwargs):
            if kwargs.get("role") == "assistant":
                from desktop_app.core.chats.store import write_error
                raise write_error(self.file, sqlite3.OperationalError("database or disk is full"))
            return super().add_message(*args, **kwargs)

    store = FullAfterQuestion(tmp_path / "chats.sqlite3")
    session, engine, rec = make_session(store, model_file)
    from desktop_app.core.errors import ScalpelError
    with pytest.raises(ScalpelError, match="disk is full"):
        session.send("first")
    assert engine.requests == []  # nothing was asked of the engine
    assert store.list_chats() == [] and session.chat_id is None and session.path == []
    assert session.state == SessionState.IDLE and not session.answering
