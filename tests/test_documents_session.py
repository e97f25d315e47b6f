"""Answers grounded on the person's documents, in the conversation core: the documents
(or passages) go to the model with their markers, the sources are kept with the answer,
a whole-document request too big for the context is answered part by part, and a chat
that uses documents is never sent to another model. Real index and files; the fake
engine answers (the real model: test_chat_with_docs_json_lists_the_sources)."""

from __future__ import annotations

import json

import pytest

from desktop_app.core.chats import ChatStore
from desktop_app.core.documents import IndexStore, Indexer
from desktop_app.core.documents.grounding import CITE
from desktop_app.core.documents.session_port import SessionDocuments
from desktop_app.core.engine import LoadOptions
from desktop_app.core.errors import EscalationRefusedError
from desktop_app.core.session import AnswerFailed, AnswerFinished, AnswerProgress, ChatSession
from fake_engine import FakeEngine
from test_auto_session import FakePort
from test_chat_session import Recorder

HANDBOOK = ("# Holiday policy\n\nEmployees get 27 days of paid holiday per year. Unused days "
            "expire on 31 March.\n\n# Travel\n\nTrain travel is reimbursed in second class.\n")


@pytest.fixture
def index(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "handbook.md").write_text(HANDBOOK, encoding="utf-8")
    for n in range(1, 13):
        (folder / f"minutes-{n:02}.md").write_text(
            f"# Meeting {n}\n\n" + f"Decision {n}: the team adopts proposal P{n}. " * 40,
            encoding="utf-8")
    store = IndexStore(tmp_path / "index.sqlite3")
    hr = store.ensure_collection("hr")
    (tmp_path / "hr").mkdir()
    (tmp_path / "hr" / "handbook.md").write_text(HANDBOOK, encoding="utf-8")
    store.add_folder(hr, str(tmp_path / "hr"))
    store.add_folder(store.ensure_collection("minutes"), str(folder))
    Indexer(store).run()
    yield store
    store.close()


def make(tmp_path, index, *, n_ctx=4096, refusal=None, port=None):
    store = ChatStore(tmp_path / "chats.sqlite3")
    engine = FakeEngine(words=2)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    engine.load(model, LoadOptions(n_ctx=n_ctx), name="Small")
    documents = SessionDocuments(lambda: index, refusal=lambda: refusal)
    session = ChatSession(store, engine, preset_for=lambda _id: None, save_interval_s=0.01,
                          documents=documents, escalation=port)
    return session, engine, Recorder(session), store


def test_the_documents_go_to_the_model_and_the_sources_stay_with_the_answer(tmp_path, index):
    session, engine, recorder, store = make(tmp_path, index)
    session.set_documents(["hr"])
    session.send("How many days of paid holiday do we get?")
    answer = recorder.until(AnswerFinished)[-1].message
    system = engine.requests[-1][0]
    assert system["role"] == "system" and "27 days of paid holiday" in system["content"]
    assert CITE in system["content"] and "[1] handbook.md" in system["content"]
    grounding = store.message(answer.id).stats["grounding"]
    assert grounding["mode"] == "whole" and grounding["collections"] == ["hr"]
    assert grounding["sources"][0]["file"].endswith("handbook.md")
    assert session.documents == ("hr",)          # saved with the chat once it exists
    chat_id = session.chat_id
    session.new_chat()
    assert session.documents == ()
    session.open_chat(chat_id)
    assert session.documents == ("hr",)


def test_a_whole_document_request_too_big_is_answered_part_by_part(tmp_path, index):
    session, engine, recorder, store = make(tmp_path, index, n_ctx=1024)
    session.set_documents(["minutes"])
    session.send("Summarize every decision in the minutes")
    seen = recorder.until(AnswerFinished)
    progress = [e.text for e in seen if isinstance(e, AnswerProgress)]
    parts = [t for t in progress if t.startswith("Reading part")]
    assert len(parts) >= 3 and parts[0] == f"Reading part 1 of {len(parts)}…"
    assert progress[-1].startswith("Writing the answer from")
    assert len(engine.requests) > len(parts)                   # the parts, then combining
    assert "part 1 of" in engine.requests[0][0]["content"]
    final = engine.requests[-1][-1]["content"]
    assert final.startswith("These are notes made from each part")
    stats = store.message(seen[-1].message.id).stats["grounding"]
    assert stats["mode"] == "map_reduce" and len(stats["sources"]) >= 12


def test_a_chat_with_documents_is_never_sent_to_another_model(tmp_path, index):
    remote = FakeEngine()
    port = FakePort(remote, mode="auto", weak=True)   # weak answers would escalate by themselves
    session, engine, recorder, store = make(tmp_path, index, port=port)
    session.set_documents(["hr"])
    session.send("How many days of paid holiday do we get?")
    answer = recorder.until(AnswerFinished)[-1].message
    with pytest.raises(EscalationRefusedError, match="documents"):
        session.escalate(answer.id)
    session.wait_idle(5)
    assert not remote.requests and [r["where"] for r in port.records] == ["local"]


def test_documents_turned_off_by_policy_answer_with_the_reason(tmp_path, index):
    session, engine, recorder, store = make(
        tmp_path, index, refusal="your organization's policy turns off your own documents")
    session.set_documents(["hr"])
    session.send("How many days of paid holiday do we get?")
    failed = recorder.until(AnswerFailed)[-1]
    assert "turns off your own documents" in failed.error and not engine.requests


@pytest.mark.model
def test_chat_with_docs_json_lists_the_sources(scalpel, tmp_path):
    folder = tmp_path / "hr"
    folder.mkdir()
    (folder / "handbook.md").write_text(HANDBOOK, encoding="utf-8")
    assert scalpel("docs", "add", str(folder), "--collection", "hr").returncode == 0
    result = scalpel("chat", "--no-save", "--docs", "hr", "--json", "--max-tokens", "24",
                     "How many days of paid holiday do employees get?")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["grounding"] == "whole"
    assert figures["sources"][0]["file"] == str(folder / "handbook.md")
    assert "27 days" in figures["sources"][0]["passage"]
    missing = scalpel("chat", "--no-save", "--docs", "nope", "hi")
    assert missing.returncode == 2 and "no document collection named nope" in missing.stderr
