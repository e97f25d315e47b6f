"""The engine in a child process: same answers, crashes survived, cancel, memory returned.

Every test runs the real engine process (``python -m desktop_app.core.engine.child``) with
the real SmolLM2 GGUF; crashes are real signals sent to it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

from desktop_app.core.engine import GenerationParams, LlamaEngine, LoadOptions, ReplyFinished
from desktop_app.core.engine.process import EngineProcess, describe_exit
from desktop_app.core.engine.protocol import error_from_dict, error_to_dict
from desktop_app.core.errors import (ContextOverflowError, EngineCrashedError, EngineError,
                                     NoModelLoadedError, TruncatedModelError)

GREEDY = GenerationParams(temperature=0, max_tokens=24)
HELLO = [{"role": "user", "content": "Name three colours."}]
STORY = [{"role": "user", "content": "Write a long story about a lighthouse keeper."}]


@pytest.fixture
def process_engine(smollm2_path):
    engine = EngineProcess()
    engine.load(smollm2_path, LoadOptions(n_ctx=2048))
    yield engine
    engine.unload()


def finished(events) -> ReplyFinished:
    *_, last = list(events)
    assert isinstance(last, ReplyFinished)
    return last


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is not alive
        return stat.read().split(") ")[-1][0] != "Z"


def test_it_answers_like_the_engine_in_this_process(process_engine, smollm2_path):
    local = LlamaEngine()
    try:
        local.load(smollm2_path, LoadOptions(n_ctx=2048))
        expected = finished(local.generate(HELLO, GREEDY)).text
    finally:
        local.unload()
    events = list(process_engine.generate(HELLO, GREEDY))
    assert events[-1].text == expected and expected.strip()
    assert "".join(e.text for e in events[:-1]) == expected  # the streamed pieces join up
    assert process_engine.pid != os.getpid()
    assert process_engine.model_info.context_size == 2048
    assert process_engine.render_prompt(HELLO).text.endswith("<|im_start|>assistant\n")
    assert process_engine.count_prompt_tokens(HELLO) > 5


def test_a_killed_engine_is_restarted_with_the_model_on_the_next_request(process_engine):
    first_pid = process_engine.pid
    restarts = []
    process_engine.on_restart = restarts.append
    events = process_engine.generate(STORY, GenerationParams(temperature=0, max_tokens=400))
    with pytest.raises(EngineCrashedError) as crash:
        for count, _event in enumerate(events):
            if count == 2:
                os.kill(first_pid, signal.SIGKILL)
    message = str(crash.value)
    assert "stopped while answering" in message and "SIGKILL" in message
    assert "conversation is safe" in message and "Traceback" not in message
    assert process_engine.model_info is not None  # still the model people chose

    answer = finished(process_engine.generate(HELLO, GREEDY))
    assert answer.text.strip() and answer.reason in ("stop", "length")
    assert process_engine.pid not in (None, first_pid)
    assert restarts == [process_engine.model_info.name]
    assert process_engine.crashes == 1


def test_a_segfault_while_idle_goes_unnoticed_until_the_next_answer(process_engine):
    os.kill(process_engine.pid, signal.SIGSEGV)
    process_engine._child.proc.wait(30)  # dead before the request: nothing was in flight
    answer = finished(process_engine.generate(HELLO, GREEDY))
    assert answer.text.strip()


CRASH_ON_LOAD = """
import os, sys
from desktop_app.core.engine import child, llama_engine
real_open = llama_engine.LlamaEngine._open
def _open(self, gguf, *args):
    if gguf.path.endswith("crash-on-load.gguf"):
        os.abort()  # as llama.cpp does on a GGML_ASSERT
    return real_open(self, gguf, *args)
llama_engine.LlamaEngine._open = _open
sys.exit(child.main())
"""


def test_a_crash_while_loading_keeps_the_previous_model(smollm2_path, tmp_path):
    crashing = tmp_path / "crash-on-load.gguf"
    os.link(smollm2_path, crashing) if os.stat(smollm2_path).st_dev == os.stat(
        tmp_path).st_dev else crashing.write_bytes(smollm2_path.read_bytes())
    engine = EngineProcess(command=[sys.executable, "-c", CRASH_ON_LOAD])
    try:
        before = engine.load(smollm2_path, LoadOptions(n_ctx=2048))
        with pytest.raises(EngineCrashedError) as crash:
            engine.load(crashing, LoadOptions(n_ctx=1024))
        assert "stopped while loading the model: it crashed (SIGABRT)" in str(crash.value)
        assert "may be damaged" in str(crash.value)
        assert engine.model_info == before
        assert finished(engine.generate(HELLO, GREEDY)).text.strip()
        assert engine.model_info.context_size == 2048  # the model as it was, reloaded
    finally:
        engine.unload()


def test_cancel_lands_during_prompt_evaluation(process_engine):
    long_prompt = [{"role": "user", "content": "lighthouse keeper " * 700}]
    handle = process_engine.generate(long_prompt, GenerationParams(temperature=0, max_tokens=50))
    threading.Timer(0.3, handle.cancel).start()  # while the 1,400-token prompt is read
    started = time.monotonic()
    answer = finished(handle)
    assert answer.reason == "cancelled" and answer.stats.completion_tokens == 0
    assert time.monotonic() - started < 2.5  # the whole prompt takes longer than that
    assert finished(process_engine.generate(HELLO, GREEDY)).text.strip()  # still in step


def test_a_cancel_sent_with_the_request_stops_it_in_the_engine_process(process_engine):
    """The child gives a request its handle as the line arrives, so a cancel that follows
    at once is never lost, even before the request's turn comes."""
    handle = process_engine.generate(STORY, GenerationParams(temperature=0, max_tokens=400))
    child = process_engine._child
    real_send = child.send

    def send_then_cancel(message):
        sent = real_send(message)
        if message.get("op") == "generate":
            real_send({"op": "cancel", "id": message["id"]})
        return sent

    child.send = send_then_cancel
    try:
        answer = finished(handle)
    finally:
        child.send = real_send
    assert answer.reason == "cancelled" and answer.stats.completion_tokens == 0


def test_ctrl_c_in_the_terminal_does_not_reach_the_engine_process(process_engine):
    """The terminal sends SIGINT to the whole process group; the engine process is the
    parent's to stop, so it ignores it and goes on answering."""
    os.kill(process_engine.pid, signal.SIGINT)
    assert finished(process_engine.generate(HELLO, GREEDY)).text.strip()
    assert process_engine.crashes == 0


def test_a_stream_abandoned_early_leaves_the_engine_in_step(process_engine):
    expected = finished(process_engine.generate(HELLO, GREEDY)).text
    events = process_engine.generate(STORY, GenerationParams(temperature=0, max_tokens=300))
    next(events)
    events.close()
    assert finished(process_engine.generate(HELLO, GREEDY)).text == expected


def test_unload_ends_the_process_and_a_later_load_starts_one(process_engine, smollm2_path):
    pid = process_engine.pid
    process_engine.unload()
    assert not pid_alive(pid)
    assert process_engine.model_info is None and process_engine.pid is None
    with pytest.raises(NoModelLoadedError):
        process_engine.generate(HELLO, GREEDY)
    process_engine.load(smollm2_path, LoadOptions(n_ctx=1024))
    assert process_engine.pid not in (None, pid)


def test_errors_cross_the_process_boundary_typed(process_engine, tmp_path, smollm2_path):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(smollm2_path.read_bytes()[:50_000_000])
    with pytest.raises(TruncatedModelError) as truncated:
        process_engine.load(cut, LoadOptions(n_ctx=1024))
    assert "truncated" in str(truncated.value)
    assert truncated.value.expected_size > truncated.value.actual_size > 0
    assert process_engine.model_info.path == str(smollm2_path)  # the old model stays

    overflow = [{"role": "user", "content": "word " * 5000}]
    small = EngineProcess()
    try:
        small.load(smollm2_path, LoadOptions(n_ctx=512))
        with pytest.raises(ContextOverflowError) as too_long:
            finished(small.generate(overflow, GREEDY))
        assert too_long.value.context_size == 512
    finally:
        small.unload()


def test_keep_loaded_reaches_the_engine_process(smollm2_path):
    engine = EngineProcess(keep_loaded=2)
    try:
        engine.load(smollm2_path, LoadOptions(n_ctx=1024))
        engine.load(smollm2_path, LoadOptions(n_ctx=512))
        assert [m.context_size for m in engine.loaded_models()] == [1024, 512]
        engine.keep_loaded = 1
        assert [m.context_size for m in engine.loaded_models()] == [512]
    finally:
        engine.unload()


def test_an_engine_that_cannot_start_says_so(tmp_path):
    engine = EngineProcess(command=[sys.executable, "-c", "import sys; sys.exit(3)"])
    with pytest.raises(EngineError) as failed:
        engine.load(tmp_path / "any.gguf")
    assert "could not be started" in str(failed.value) and "code 3" in str(failed.value)


def test_exit_descriptions_are_words():
    assert describe_exit(-signal.SIGKILL).startswith("it was killed (SIGKILL")
    assert describe_exit(-signal.SIGSEGV) == "it crashed (SIGSEGV)"
    assert describe_exit(-signal.SIGABRT) == "it crashed (SIGABRT)"
    assert describe_exit(1) == "it exited with code 1"


def test_unknown_errors_become_engine_errors_without_internals():
    rebuilt = error_from_dict(error_to_dict(KeyError("/home/ann/secret internals")))
    assert type(rebuilt) is EngineError
    assert str(rebuilt) == "The engine failed unexpectedly; details are in the log."
    assert "secret" not in str(rebuilt) and "KeyError" not in str(rebuilt)
    forged = error_from_dict({"type": "SystemExit", "message": "m", "attrs": {}})
    assert type(forged) is EngineError


def test_the_child_logs_an_unexpected_failure_and_replies_without_its_text(caplog):
    import io
    import logging

    from desktop_app.core.engine.child import EngineServer, _Replies
    from desktop_app.core.engine.protocol import decode, encode

    class BrokenEngine:
        def stats(self):
            raise KeyError("/home/ann/secret-prompt.txt")

    sent = io.BytesIO()
    server = EngineServer(BrokenEngine(), _Replies(sent))
    server.read_requests(io.BytesIO(encode({"id": 1, "op": "stats"})))  # then end of input
    with caplog.at_level(logging.ERROR, logger="desktop_app.core.engine.child"):
        server.serve()
    reply = decode(sent.getvalue().splitlines()[0])
    assert reply["error"]["message"] == "The engine failed unexpectedly; details are in the log."
    assert "secret-prompt" not in sent.getvalue().decode()
    failure, = [r for r in caplog.records if r.name == "desktop_app.core.engine.child"]
    assert failure.exc_info and "secret-prompt" in caplog.text and "Traceback" in caplog.text


def test_text_that_is_not_valid_unicode_crosses_the_pipe_replaced():
    """A lone surrogate used to make the request line fail to encode; the request was then
    never sent and the caller waited forever."""
    from desktop_app.core.engine.protocol import decode, encode

    line = encode({"id": 1, "op": "generate", "args": {"messages": [
        {"role": "system", "content": "Be \udcff brief"}]}})
    assert decode(line)["args"]["messages"][0]["content"] == "Be \ufffd brief"
