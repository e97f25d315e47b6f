"""Auto and escalation in the conversation core (fake engines: the wiring, fast).

The real router and the shipped presets choose the task; FakeEngine answers. The
escalation port here is a small fake with the rules the real one has; the real
port against a real llama_cpp.server is in test_escalation_session.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from desktop_app.core.chats import ChatStore
from desktop_app.core.engine import LoadOptions
from desktop_app.core.engine.types import ReplyFinished
from desktop_app.core.errors import ConsentNeededError, EscalationRefusedError
from desktop_app.core.preset_store import PresetStore
from desktop_app.core.resources import resource_path
from desktop_app.core.routing import Router
from desktop_app.core.session import (AnswerFinished, AnswerRouted, ChatSession, ModelLoaded,
                                      Notice)
from desktop_app.core.session.auto import AutoTask, ModelTarget, Routed
from desktop_app.core.session.events import EscalationSuggested
from fake_engine import FakeEngine
from test_chat_session import Recorder


@pytest.fixture
def presets(tmp_path):
    return PresetStore(builtin_dir=resource_path("presets"), extra_dirs=[],
                       user_dir=tmp_path / "presets")


@pytest.fixture
def models(tmp_path):
    found = {}
    for name in ("small", "coder"):
        path = tmp_path / f"{name}.gguf"
        path.write_bytes(b"GGUF")
        found[name] = path
    return found


@pytest.fixture
def store(tmp_path):
    chats = ChatStore(tmp_path / "chats.sqlite3")
    yield chats
    chats.close()


def auto_task(presets, models):
    router = Router(presets.list())

    def model_for(preset):
        if preset.id == "code":
            return ModelTarget(str(models["coder"]), LoadOptions(n_ctx=512), "Coder")
        return None

    return AutoTask(route=lambda text: router.route(text, use_model=False),
                    preset_for=presets.get, model_for=model_for)


@dataclass(frozen=True)
class Verdict:
    weak: bool
    reasons: tuple[str, ...] = ()

    def to_dict(self):
        return {"weak": self.weak, "reasons": list(self.reasons)}


class FakePort:
    """The escalation rules of core/escalation, small: mode, keep-local, tasks."""

    def __init__(self, remote: FakeEngine, *, mode="ask", tasks=None, weak=False,
                 too_big=False):
        self.mode, self.endpoint, self.model = mode, "http://127.0.0.1:9/v1", "big-model"
        self.remote, self.tasks, self.weak, self.too_big = remote, tasks, weak, too_big
        self.records = []

    def before(self, messages, *, context_size, reply_tokens, preset):
        return Verdict(self.too_big, ("it does not fit the local context",)
                       if self.too_big else ())

    def refusal(self, *, preset_id, keep_local, automatic):
        if self.mode == "off":
            return "Asking a bigger model is off."
        if keep_local:
            return "This chat is kept on this computer."
        if self.tasks is not None and preset_id not in self.tasks:
            return "Your organization does not allow this task to leave the computer."
        return None

    def preview(self, messages):
        return "\n".join(f"{m['role']}: {m['content']}" for m in messages)

    def engine(self):
        return self.remote

    def assess(self, finished: ReplyFinished, text):
        return Verdict(self.weak, ("low token probabilities",) if self.weak else ())

    def record(self, **entry):
        self.records.append(entry)


def make(store, presets, models, *, port=None):
    engine = FakeEngine(words=2)
    engine.load(models["small"], name="Small")
    session = ChatSession(store, engine, preset_for=presets.get, save_interval_s=0.01,
                          auto=auto_task(presets, models), escalation=port)
    session.set_preset(presets.get("auto"))
    return session, engine, Recorder(session)


def finished(recorder) -> AnswerFinished:
    return recorder.until(AnswerFinished)[-1]


def test_auto_routes_each_message_and_keeps_where_it_went(store, presets, models):
    session, engine, recorder = make(store, presets, models)
    session.send("translate to German: good morning")
    seen = recorder.until(AnswerFinished)
    routed = [e for e in seen if isinstance(e, AnswerRouted)]
    assert routed[-1].routed.preset_id == "translate"
    assert routed[-1].routed.step == "signals"
    answer = seen[-1].message
    assert answer.preset_id == "translate" and answer.model == "Small"
    saved = Routed.from_dict(store.message(answer.id).stats["routed"])
    assert saved.line().startswith("Translate · Small · ")
    # the translate preset's own system prompt went to the engine
    assert presets.get("translate").system_prompt in engine.requests[-1][0]["content"]
    # the chat stays on Auto: the next message is routed again
    assert session.preset.id == "auto"


def test_auto_loads_the_chosen_tasks_model(store, presets, models):
    session, engine, recorder = make(store, presets, models)
    session.send("Why does this fail?\n```python\nprint(1/0)\n```")
    seen = recorder.until(AnswerFinished)
    loading = [e for e in seen if isinstance(e, AnswerRouted) and e.loading]
    assert loading and loading[0].routed.model == "Coder"
    assert any(isinstance(e, ModelLoaded) and e.info.name == "Coder" for e in seen)
    assert seen[-1].message.model == "Coder" and seen[-1].message.preset_id == "code"
    assert engine.model_info.name == "Coder"


def test_a_model_that_cannot_load_answers_with_the_open_one(store, presets, models):
    session, engine, recorder = make(store, presets, models)
    models["coder"].unlink()
    session.send("```js\nconsole.log(x)\n```\nwhy undefined?")
    seen = recorder.until(AnswerFinished)
    assert any(isinstance(e, Notice) and "could not be loaded" in e.text for e in seen)
    assert seen[-1].message.model == "Small" and seen[-1].message.preset_id == "code"


def test_answer_as_makes_another_version_by_the_named_task(store, presets, models):
    session, engine, recorder = make(store, presets, models)
    session.send("Hello there")
    first = finished(recorder).message
    assert session.answer_as(first.id, "email")
    second = finished(recorder).message
    assert second.preset_id == "email" and second.parent_id == first.parent_id
    assert len(store.siblings(second.id)) == 2
    assert store.message(second.id).stats["routed"]["step"] == "person"


def test_escalation_refused_without_a_port_or_for_a_kept_chat(store, presets, models):
    session, _, recorder = make(store, presets, models)
    session.send("Hello")
    answer = finished(recorder).message
    with pytest.raises(EscalationRefusedError, match="not set up"):
        session.escalate(answer.id)
    port = FakePort(FakeEngine(words=1), mode="auto")
    session._escalation = port
    session.set_keep_local(True)
    with pytest.raises(EscalationRefusedError, match="kept on this computer"):
        session.escalate(answer.id)
    assert len(store.siblings(answer.id)) == 1


def test_ask_mode_shows_what_would_be_sent_first_then_answers_remotely(store, presets, models):
    remote = FakeEngine(words=1)
    remote.load(models["small"], name="big-model")
    port = FakePort(remote, mode="ask")
    session, _, recorder = make(store, presets, models, port=port)
    session.send("What is a heat pump?")
    local = finished(recorder).message
    with pytest.raises(ConsentNeededError) as refused:
        session.escalate(local.id)
    assert "What is a heat pump?" in refused.value.preview
    assert refused.value.endpoint == port.endpoint and not remote.requests
    assert session.escalate(local.id, consent=True)
    answer = finished(recorder).message
    assert answer.model == "big-model" and answer.parent_id == local.parent_id
    routed = store.message(answer.id).stats["routed"]
    assert routed["where"] == "remote" and routed["step"] == "escalation"
    assert [r["where"] for r in port.records] == ["local", "remote"]
    # consent holds for the rest of the chat
    session.escalate(answer.id)
    finished(recorder)


def test_a_task_the_policy_forbids_is_never_sent(store, presets, models):
    port = FakePort(FakeEngine(), mode="auto", tasks=("general",))
    session, _, recorder = make(store, presets, models, port=port)
    session.send("translate to French: the cat")
    answer = finished(recorder).message
    with pytest.raises(EscalationRefusedError, match="does not allow"):
        session.escalate(answer.id)


def test_a_weak_answer_escalates_by_itself_in_auto_mode(store, presets, models):
    remote = FakeEngine(words=1)
    remote.load(models["small"], name="big-model")
    port = FakePort(remote, mode="auto", weak=True)
    session, _, recorder = make(store, presets, models, port=port)
    session.send("What is a heat pump?")
    local = finished(recorder).message
    escalated = finished(recorder).message
    assert escalated.model == "big-model"
    reason = store.message(escalated.id).stats["routed"]["escalation_reason"]
    assert "looked weak" in reason and "low token probabilities" in reason
    assert store.message(local.id).stats["assessment"]["weak"] is True


def test_a_weak_answer_is_offered_for_escalation_in_ask_mode(store, presets, models):
    port = FakePort(FakeEngine(), mode="ask", weak=True)
    session, _, recorder = make(store, presets, models, port=port)
    session.send("What is a heat pump?")
    seen = recorder.until(EscalationSuggested)
    assert seen[-1].reasons == ("low token probabilities",)


def test_a_remote_answer_that_breaks_off_is_kept_and_marked(store, presets, models):
    from desktop_app.core.errors import RemoteAnswerCutError

    class Cut(FakeEngine):
        def _answer(self, handle, messages, params):
            for event in super()._answer(handle, messages, params):
                yield event
                raise RemoteAnswerCutError("The organization's model stopped mid-answer.",
                                           kind="cut", host="127.0.0.1:9", partial_text="")

    remote = Cut(words=3)
    remote.load(models["small"], name="big-model")
    session, _, recorder = make(store, presets, models, port=FakePort(remote, mode="auto"))
    session.send("What is a heat pump?")
    local = finished(recorder).message
    session.escalate(local.id)
    seen = recorder.until(AnswerFinished)
    assert any(isinstance(e, Notice) and "stopped mid-answer" in e.text for e in seen)
    kept = store.message(seen[-1].message.id)
    assert kept.status == "failed" and kept.content.startswith("echo")
    assert store.message(local.id).content  # the local answer is untouched


def test_a_request_too_big_for_the_local_model_goes_to_the_bigger_one_first(
        store, presets, models):
    remote = FakeEngine(words=1)
    remote.load(models["small"], name="big-model")
    port = FakePort(remote, mode="auto", too_big=True)
    session, engine, recorder = make(store, presets, models, port=port)
    session.send("Summarize this long report: ...")
    answer = finished(recorder).message
    assert answer.model == "big-model" and not engine.requests
    routed = store.message(answer.id).stats["routed"]
    assert routed["where"] == "remote" and "does not fit" in routed["escalation_reason"]
    assert [r["where"] for r in port.records] == ["remote"]


def test_in_ask_mode_a_request_too_big_is_answered_locally_then_offered(
        store, presets, models):
    port = FakePort(FakeEngine(), mode="ask", too_big=True)
    session, engine, recorder = make(store, presets, models, port=port)
    session.send("Summarize this long report: ...")
    seen = recorder.until(EscalationSuggested)
    assert engine.requests and seen[-1].reasons == ("it does not fit the local context",)


def test_an_installed_embedding_model_compares_the_examples(services, smollm2_path):
    """With an embedding model set, the examples step embeds through the engine (the fake
    engine's hashed bags of words stand in for a real model's vectors here)."""
    from desktop_app.core.session.auto import auto_task_from

    services.update_settings(embedding_model=str(smollm2_path))
    engine = FakeEngine()
    calls = []
    real_embed = engine.embed
    engine.embed = lambda texts, model=None: (calls.append((model, len(texts)))
                                              or real_embed(texts, model=model))
    auto = auto_task_from(services, engine)
    preset, decision = auto.choose("What is the capital of Peru?")
    assert calls[0][0] == str(smollm2_path) and calls[0][1] > 50   # every example, once
    assert calls[1:] == [(str(smollm2_path), 1)]                   # then the message
    assert decision.step in ("examples", "default") and preset is not None
    auto.choose("Who painted the Mona Lisa?")
    assert len(calls) == 3
