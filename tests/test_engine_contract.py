"""One contract, four engines: the fake, LlamaEngine (in process), EngineProcess and
RemoteEngine (against a real llama_cpp.server serving SmolLM2, conftest's llama_server).

Every engine the session or the window can be given passes the same suite, so a
face written against one works with all. None of the tests is skipped for any kind,
but embeddings on the remote server (conftest starts it without them).
"""

from __future__ import annotations

import math
import threading
import time

import pytest

from desktop_app.core.engine import GenerationParams, LoadOptions, ReplyFinished, TextDelta
from desktop_app.core.engine.contract import Engine, Generation
from desktop_app.core.errors import ModelFileError, NoModelLoadedError, ScalpelError
from fake_engine import FakeEngine

GREEDY = GenerationParams(temperature=0, max_tokens=24)
LONG = GenerationParams(temperature=0, max_tokens=400)
HELLO = [{"role": "user", "content": "Name three colours."}]
STORY = [{"role": "user", "content": "Write a long story about a lighthouse keeper."}]


def make_engine(kind: str, server=None) -> Engine:
    if kind == "remote":
        from desktop_app.core.engine import RemoteEngine

        # With no server: an address nothing listens on (no request is ever made there).
        return RemoteEngine(endpoint=server.url if server else "http://127.0.0.1:9/v1",
                            model=server.model if server else "none", api_key=None)
    if kind == "fake":
        return FakeEngine(words=200, delay=0.002)
    if kind == "in-process":
        from desktop_app.core.engine import LlamaEngine

        return LlamaEngine()
    from desktop_app.core.engine.process import EngineProcess

    return EngineProcess()


@pytest.fixture(params=["fake", pytest.param("in-process", marks=pytest.mark.model),
                        pytest.param("engine-process", marks=pytest.mark.model),
                        pytest.param("remote", marks=pytest.mark.model)])
def kind(request) -> str:
    return request.param


@pytest.fixture
def model_path(kind, tmp_path, request):
    if kind == "fake":
        path = tmp_path / "fake.gguf"
        path.write_bytes(b"GGUF")
        return path
    return request.getfixturevalue("smollm2_path")


@pytest.fixture
def loaded(kind, model_path, request):
    engine = make_engine(kind, request.getfixturevalue("llama_server")
                         if kind == "remote" else None)
    engine.load(model_path, LoadOptions(n_ctx=1024), name="Test model")
    yield engine
    engine.unload()


def read(handle: Generation) -> tuple[str, ReplyFinished]:
    deltas, final = [], None
    for event in handle:
        if isinstance(event, TextDelta):
            deltas.append(event.text)
        else:
            final = event
    assert isinstance(final, ReplyFinished)
    return "".join(deltas), final


def test_it_has_every_part_of_the_contract(loaded):
    for name in ("load", "generate", "cancel", "unload", "loaded_models", "stats"):
        assert callable(getattr(loaded, name))
    assert loaded.on_restart is None or callable(loaded.on_restart)
    assert loaded.keep_loaded >= 1
    assert loaded.model_info is not None and loaded.model_info.name == "Test model"
    assert [m.name for m in loaded.loaded_models()] == ["Test model"]
    assert isinstance(loaded.stats(), dict)


def test_an_answer_streams_and_its_final_text_is_the_pieces_joined(loaded):
    with loaded.generate(HELLO, GREEDY) as handle:
        assert isinstance(handle, Generation)
        text, final = read(handle)
    assert text.strip() and final.text == text and handle.finished is final
    assert final.reason in ("stop", "length") and final.stats.completion_tokens > 0


def test_no_model_no_answer(kind):
    engine = make_engine(kind)
    with pytest.raises(NoModelLoadedError):
        engine.generate(HELLO, GREEDY)
    with pytest.raises(NoModelLoadedError):
        engine.embed(["hello"])


def test_embeddings_are_unit_vectors_one_per_text(loaded, kind, model_path):
    if kind == "remote":
        pytest.skip("conftest's llama_cpp.server runs without --embedding, so it makes no "
                    "embeddings (llama-cpp-python needs a model opened with embedding=True)")
    texts = ["The cat sat on the mat.", "Quarterly revenue rose by four percent.",
             "The cat sat on the mat."]
    vectors = loaded.embed(texts, model=str(model_path))
    assert len(vectors) == 3 and len({len(v) for v in vectors}) == 1 and len(vectors[0]) > 8
    for vector in vectors:
        assert abs(math.sqrt(sum(x * x for x in vector)) - 1.0) < 1e-4
    assert max(abs(a - b) for a, b in zip(vectors[0], vectors[2])) < 1e-5
    assert max(abs(a - b) for a, b in zip(vectors[0], vectors[1])) > 1e-3
    again = loaded.embed(["The cat sat on the mat."])
    assert len(again) == 1 and max(abs(a - b) for a, b in zip(again[0], vectors[0])) < 1e-5
    assert loaded.embed([]) == []
    assert read(loaded.generate(HELLO, GREEDY))[0].strip()  # chat still answers


def test_a_handle_cancelled_before_it_is_read_never_starts(loaded):
    handle = loaded.generate(STORY, LONG)
    handle.cancel()
    text, final = read(handle)
    assert (text, final.reason, final.stats.completion_tokens) == ("", "cancelled", 0)
    assert read(loaded.generate(HELLO, GREEDY))[0].strip()  # the engine is free


def test_a_handle_dropped_unread_holds_nothing(loaded):
    loaded.generate(STORY, LONG)  # never read
    done = []
    worker = threading.Thread(target=lambda: done.append(read(loaded.generate(HELLO, GREEDY))))
    worker.start()
    worker.join(60)
    assert done and done[0][0].strip()


def test_cancel_mid_stream_ends_the_answer_and_keeps_its_text(loaded):
    seen = []
    with loaded.generate(STORY, LONG) as handle:
        for event in handle:
            seen.append(event)
            if len(seen) == 3:
                handle.cancel()
    final = seen[-1]
    assert isinstance(final, ReplyFinished) and final.reason == "cancelled"
    assert final.text == "".join(e.text for e in seen[:-1])
    assert final.stats.completion_tokens < 100


def test_cancel_from_another_thread_and_through_the_engine(loaded):
    for cancel in ("handle", "engine"):
        handle = loaded.generate(STORY, LONG)
        results = []
        reader = threading.Thread(target=lambda: results.append(read(handle)))
        reader.start()
        deadline = time.monotonic() + 30
        while handle.finished is None and time.monotonic() < deadline:
            time.sleep(0.01)
            if cancel == "handle":
                handle.cancel()
            else:
                loaded.cancel()
            if results:
                break
        reader.join(30)
        assert results and results[0][1].reason == "cancelled"


def test_closing_part_way_leaves_the_engine_in_step(loaded):
    expected = read(loaded.generate(HELLO, GREEDY))[0]
    with loaded.generate(STORY, LONG) as handle:
        next(handle)
    assert read(loaded.generate(HELLO, GREEDY))[0] == expected


def test_a_failed_load_is_typed_and_keeps_the_model(loaded, tmp_path):
    before = loaded.model_info
    with pytest.raises(ModelFileError):
        loaded.load(tmp_path / "missing" / "nothing.gguf", LoadOptions(n_ctx=1024))
    assert loaded.model_info == before
    assert read(loaded.generate(HELLO, GREEDY))[0].strip()


def test_unload_then_generate_says_no_model(loaded):
    loaded.unload()
    assert loaded.model_info is None
    with pytest.raises(ScalpelError):
        read(loaded.generate(HELLO, GREEDY))


@pytest.mark.model
def test_the_allow_list_applies_to_the_embedding_model(tmp_path, smollm2_path):
    """An embedding model goes through the organization's gate like any load."""
    from desktop_app.core.engine import LlamaEngine
    from desktop_app.core.errors import ModelNotAllowedError
    from desktop_app.core.policy import ModelGate, Policy

    gate = ModelGate(Policy(allowed_models=("sha256:" + "0" * 64,), file=tmp_path / "p.json"))
    with pytest.raises(ModelNotAllowedError, match="ask your IT department"):
        LlamaEngine(gate=gate).embed(["hello"], model=str(smollm2_path))
