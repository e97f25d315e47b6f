"""The local API with the real openai client, the real engine process and SmolLM2, over a
real socket: models, chat, streaming, JSON schema, stop, seed, cancel by closing the
stream. Pure-logic parts (the stop scanner, request translation) need no model."""

from __future__ import annotations

import json
import time

import pytest

from desktop_app.core.api.chat_request import parse_chat_request
from desktop_app.core.api.chat_response import StopScanner
from desktop_app.core.api.errors import ApiError
from desktop_app.core.engine.types import GenerationParams

# -- no model ---------------------------------------------------------------------------------


def test_stop_strings_are_found_across_pieces_and_never_sent():
    scanner = StopScanner(("END", "\n\n"))
    sent = [scanner.feed(piece) for piece in ["hel", "lo E", "N", "x wor", "ld\n", "\nmore"]]
    assert "".join(sent) == "hello ENx world" and scanner.hit
    assert scanner.feed("after") == "" and scanner.flush() == ""
    held = StopScanner(("STOP",))
    assert held.feed("a ST") == "a " and held.flush() == "ST"  # not a stop after all


def test_openai_fields_become_generation_params():
    request = parse_chat_request({
        "model": "summarize", "messages": [{"role": "developer", "content": "be brief"},
                                           {"role": "user", "content": [
                                               {"type": "text", "text": "a"},
                                               {"type": "text", "text": "b"}]}],
        "max_tokens": 50, "temperature": 0.3, "top_p": 0.5, "seed": 2**40, "stop": "x",
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "p", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}},
        "stream": True, "stream_options": {"include_usage": True}}, max_tokens_cap=100)
    assert request.messages == ({"role": "system", "content": "be brief"},
                                {"role": "user", "content": "ab"})
    params = request.params(GenerationParams(max_tokens=1000, top_k=7), cap=100)
    assert (params.max_tokens, params.temperature, params.top_p, params.top_k) == (50, 0.3, 0.5, 7)
    assert params.seed == 2**40 % 0xFFFFFFFF and json.loads(params.json_schema)["type"] == "object"
    assert request.stop == ("x",) and request.stream and request.include_usage
    # no max_tokens: the preset's, but never above the cap
    bare = parse_chat_request({"messages": [{"role": "user", "content": "q"}]}, max_tokens_cap=64)
    assert bare.params(GenerationParams(max_tokens=1000), cap=64).max_tokens == 64
    json_object = parse_chat_request({"messages": [{"role": "user", "content": "q"}],
                                      "response_format": {"type": "json_object"}},
                                     max_tokens_cap=64)
    assert json.loads(json_object.json_schema) == {"type": "object"}


def test_a_schema_llama_cpp_cannot_enforce_is_a_400_naming_the_place():
    with pytest.raises(ApiError) as caught:
        parse_chat_request({"messages": [{"role": "user", "content": "q"}],
                            "response_format": {"type": "json_schema", "json_schema": {
                                "schema": {"properties": {"a": {"$ref": "http://x"}}}}}},
                           max_tokens_cap=64)
    assert caught.value.status == 400 and "properties.a" in caught.value.message


# -- the real engine --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def api(tmp_path_factory, smollm2_path):
    """``scalpel serve`` as the CLI runs it: an engine process with SmolLM2, on a free port."""
    from desktop_app.core.api import ApiOptions, ApiToken
    from desktop_app.core.api.engine_host import EngineHost
    from desktop_app.core.api.server import ApiServer
    from desktop_app.core.paths import Paths
    from desktop_app.core.services import build_services

    services = build_services(Paths.under(tmp_path_factory.mktemp("api-home")), environ={})
    engine = services.new_engine_process()
    ref = services.default_model()
    assert ref is not None and ref.path.resolve() == smollm2_path.resolve()
    engine.load(ref.path, services.load_options(ref), name=ref.name)
    token = ApiToken(services.paths.config_dir)
    server = ApiServer(EngineHost(services, engine, owns_engine=True), token,
                       ApiOptions(port=0, max_tokens_cap=4096))
    server.start()
    yield server, token, ref
    server.stop()
    engine.unload()


@pytest.fixture(scope="module")
def client(api):
    from openai import OpenAI

    server, token, _ = api
    return OpenAI(base_url=server.address, api_key=token.value, max_retries=0, timeout=120)


def ask(client, text, **kwargs):
    return client.chat.completions.create(
        model=kwargs.pop("model", ""), messages=[{"role": "user", "content": text}], **kwargs)


@pytest.mark.model
def test_models_lists_installed_models_and_presets(client, api):
    ids = {m.id: m for m in client.models.list().data}
    assert api[2].id in ids and "summarize" in ids
    assert ids["summarize"].owned_by == "scalpel-preset"


@pytest.mark.model
def test_chat_and_the_same_answer_streamed(client, api):
    whole = ask(client, "What is the capital of France?", temperature=0, max_tokens=24)
    text = whole.choices[0].message.content
    assert text.strip() and whole.choices[0].finish_reason in ("stop", "length")
    assert whole.model == api[2].id and whole.usage.completion_tokens > 0
    chunks = list(ask(client, "What is the capital of France?", temperature=0, max_tokens=24,
                      stream=True, stream_options={"include_usage": True}))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == \
        whole.choices[0].finish_reason
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


@pytest.mark.model
def test_an_answer_stopped_in_a_loop_ends_with_stop_and_fewer_tokens(client):
    """engine/repetition.py through the API: an OpenAI client knows "stop" and "length";
    a loop the engine ended early is a "stop", well before the 400 tokens allowed."""
    reply = ask(client, "Write the letter a over and over without stopping.", temperature=0,
                max_tokens=400)
    assert reply.choices[0].finish_reason == "stop"
    assert 96 < reply.usage.completion_tokens < 200
    assert reply.choices[0].message.content.rstrip().endswith("Z, Z, Z, Z, Z")


@pytest.mark.model
def test_a_json_schema_response_parses_and_follows_the_schema(client):
    schema = {"type": "object", "properties": {
        "city": {"type": "string", "maxLength": 30}, "population": {"type": "integer"}},
        "required": ["city", "population"], "additionalProperties": False}
    reply = ask(client, "Give the biggest city of Japan and its population as JSON.",
                temperature=0, max_tokens=80,
                response_format={"type": "json_schema",
                                 "json_schema": {"name": "city", "schema": schema}})
    data = json.loads(reply.choices[0].message.content)
    assert set(data) == {"city", "population"} and isinstance(data["population"], int)


@pytest.mark.model
def test_stop_ends_the_answer_before_the_stop_text(client):
    question = "List five fruits, one per line."
    full = ask(client, question, temperature=0, max_tokens=40).choices[0].message.content
    words = full.split()
    assert len(words) >= 4, full
    stop = words[2]
    expected = full[:full.index(stop)]
    reply = ask(client, question, temperature=0, max_tokens=40, stop=[stop])
    assert reply.choices[0].message.content == expected
    assert reply.choices[0].finish_reason == "stop"
    streamed = "".join(c.choices[0].delta.content or "" for c in
                       ask(client, question, temperature=0, max_tokens=40, stop=stop,
                           stream=True) if c.choices)
    assert streamed == expected


@pytest.mark.model
def test_the_same_seed_gives_the_same_sampled_answer(client):
    def sampled(seed):
        return ask(client, "Invent a name for a cat.", temperature=1.0, top_p=1.0,
                   seed=seed, max_tokens=30).choices[0].message.content

    first = sampled(1234)
    assert sampled(1234) == first
    assert len({sampled(s) for s in (1, 2, 3)} | {first}) > 1  # the seed is what fixes it


@pytest.mark.model
def test_a_preset_as_the_model_applies_its_prompt(client):
    reply = ask(client, "The meeting moved from Monday to Thursday because the room was "
                        "booked. Everyone must bring the report.", model="summarize",
                max_tokens=60, temperature=0)
    assert reply.model == "summarize" and reply.choices[0].message.content.strip()


@pytest.mark.model
def test_an_unknown_model_is_a_404_in_openais_shape(client):
    import openai

    with pytest.raises(openai.NotFoundError) as caught:
        ask(client, "hi", model="gpt-4o")
    assert "GET /v1/models" in str(caught.value)


@pytest.mark.model
def test_closing_the_stream_cancels_the_generation_and_frees_the_engine(client, api):
    server = api[0]
    stream = ask(client, "Write a very long story about a lighthouse keeper.",
                 temperature=0.8, max_tokens=4000, stream=True)
    pieces = 0
    for chunk in stream:
        pieces += bool(chunk.choices and chunk.choices[0].delta.content)
        if pieces >= 3:
            break
    stream.close()
    started = time.monotonic()
    deadline = started + 10
    while server.api.admission.held and time.monotonic() < deadline:
        time.sleep(0.05)
    freed_after = time.monotonic() - started
    assert server.api.admission.held == 0, "the closed stream's generation still runs"
    reply = ask(client, "Say yes.", temperature=0, max_tokens=3)
    assert reply.choices[0].message.content is not None
    # 4,000 tokens would take far longer than this on any machine this runs on
    assert freed_after < 5, freed_after


@pytest.mark.model
def test_embeddings_need_a_model_and_then_come_as_unit_vectors(client, api):
    """With nothing set, a 404 in OpenAI's shape says how to set one; with SmolLM2 set as
    ``embedding_model`` (no embedding model, but mean pooling works on it), the openai
    client gets one unit vector per text, the same for the same text."""
    import math

    import openai

    services, ref = api[0].host.services, api[2]
    assert services.settings.embedding_model is None
    with pytest.raises(openai.NotFoundError) as caught:
        client.embeddings.create(model=ref.id, input=["hello"])
    assert caught.value.body["code"] == "no_embedding_model"
    assert "embedding_model" in caught.value.body["message"]
    services.update_settings(embedding_model=ref.id)
    try:
        assert any(m.id == ref.id for m in client.models.list().data)
        texts = ["The cat sat on the mat.", "Quarterly revenue rose.", "The cat sat on the mat."]
        answer = client.embeddings.create(model=ref.id, input=texts)
        vectors = [item.embedding for item in sorted(answer.data, key=lambda d: d.index)]
        assert len(vectors) == 3 and len({len(v) for v in vectors}) == 1 and len(vectors[0]) > 8
        for vector in vectors:
            assert abs(math.sqrt(sum(x * x for x in vector)) - 1.0) < 1e-3
        assert max(abs(a - b) for a, b in zip(vectors[0], vectors[2])) < 1e-5
        assert max(abs(a - b) for a, b in zip(vectors[0], vectors[1])) > 1e-3
        floats = client.embeddings.create(model=ref.id, input="The cat sat on the mat.",
                                          encoding_format="float")
        assert max(abs(a - b) for a, b in zip(floats.data[0].embedding, vectors[0])) < 1e-5
        with pytest.raises(openai.NotFoundError):
            client.embeddings.create(model="text-embedding-3-small", input=["hi"])
        with pytest.raises(openai.BadRequestError):
            client.embeddings.create(model=ref.id, input=[[1, 2, 3]])
        assert ask(client, "Say yes.", temperature=0, max_tokens=3).choices[0].message.content
    finally:
        services.update_settings(embedding_model=None)


# -- the window's switch ---------------------------------------------------------------------

@pytest.mark.model
def test_the_window_serves_its_own_engine_and_shows_who_called(open_window, qtbot):
    """Turn the API on in the window, copy the token, stream an answer with the openai
    client, and see the call in the window; the window's engine answered (no second one)."""
    from openai import OpenAI
    from PySide6.QtGui import QGuiApplication

    window = open_window()
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=30_000):
        window.start()
    panel = window.api_panel
    panel.switch.setChecked(True)  # API > Local API
    assert panel.server is not None and panel.status.isVisible()
    assert panel.server.host.engine is window.bridge.engine
    panel.copy_token.trigger()
    token = QGuiApplication.clipboard().text()
    assert token == panel.token().value
    client = OpenAI(base_url=panel.server.address, api_key=token, max_retries=0, timeout=120)
    pid = window.bridge.engine.pid
    text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="", messages=[{"role": "user", "content": "Say hello."}], max_tokens=12,
        temperature=0, stream=True) if c.choices)
    assert text.strip()
    assert window.bridge.engine.pid == pid  # the same engine process answered
    qtbot.waitUntil(lambda: "recent call" in panel.status.text(), timeout=5_000)
    assert "POST /v1/chat/completions" in panel.recent_text()
    assert "200" in panel.recent_text()
    address = panel.server.address
    panel.switch.setChecked(False)
    assert panel.server is None and not panel.status.isVisible()
    import openai

    with pytest.raises(openai.APIConnectionError):
        OpenAI(base_url=address, api_key=token, max_retries=0, timeout=5).models.list()
