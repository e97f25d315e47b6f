"""The engine with the real SmolLM2 GGUF through real llama.cpp."""

from __future__ import annotations

import logging
import threading

import pytest

from desktop_app.core.engine import (GenerationParams, LlamaEngine, LoadOptions, ReplyFinished,
                                     TextDelta, event_from_dict)
from desktop_app.core.errors import (ContextOverflowError, ModelNotFoundError,
                                     NoModelLoadedError, NotGGUFError, TruncatedModelError)

GREEDY = GenerationParams(temperature=0.0, max_tokens=48)
HELLO = [{"role": "user", "content": "Write two sentences about the sea."}]


def run(engine, messages, params=GREEDY):
    events = list(engine.generate(messages, params))
    assert isinstance(events[-1], ReplyFinished)
    assert all(isinstance(e, TextDelta) for e in events[:-1])
    return events[:-1], events[-1]


def test_streams_several_chunks_that_join_to_the_final_text(engine):
    deltas, finished = run(engine, HELLO)
    assert len(deltas) >= 5
    assert "".join(d.text for d in deltas) == finished.text
    assert finished.text.strip()
    assert "<|im_end|>" not in finished.text and "<|im_start|>" not in finished.text


def test_greedy_decoding_is_repeatable(engine):
    _, first = run(engine, HELLO)
    run(engine, [{"role": "user", "content": "Name a colour."}])  # disturb the KV cache
    _, second = run(engine, HELLO)
    assert first.text == second.text


def test_stats_are_filled_and_plausible(engine, smollm2_path):
    _, finished = run(engine, HELLO)
    stats = finished.stats
    assert stats.prompt_tokens > 5
    assert 0 < stats.completion_tokens <= GREEDY.max_tokens
    assert stats.time_to_first_token_s > 0
    assert stats.decode_tokens_per_s > 0
    assert stats.total_s >= stats.time_to_first_token_s
    assert stats.context_used == stats.prompt_tokens + stats.completion_tokens
    assert stats.context_size == 4096
    assert finished.reason in {"stop", "length"}
    assert engine.stats()["last_reply"] == stats.to_dict()
    info = engine.model_info
    assert info.architecture == "llama" and info.quantization == "Q4_1"
    assert info.chat_template.startswith("embedded") and info.path == str(smollm2_path)


def test_max_tokens_cuts_the_answer_with_reason_length(engine):
    _, finished = run(engine, HELLO, GenerationParams(temperature=0.0, max_tokens=3))
    assert finished.reason == "length"
    assert finished.stats.completion_tokens == 3


def test_stop_mid_stream_ends_within_one_token(engine):
    events = engine.generate(HELLO, GenerationParams(temperature=0.0, max_tokens=200))
    seen = []
    for event in events:
        seen.append(event)
        if sum(isinstance(e, TextDelta) for e in seen) == 3:
            engine.cancel()
    finished = seen[-1]
    assert isinstance(finished, ReplyFinished) and finished.reason == "cancelled"
    assert finished.stats.completion_tokens == 3  # nothing decoded after the cancel
    assert sum(isinstance(e, TextDelta) for e in seen) == 3


def test_cancel_interrupts_a_long_prompt_evaluation(engine):
    long_prompt = [{"role": "user", "content": "lorem ipsum dolor " * 480}]
    tokens = engine.count_prompt_tokens(long_prompt)
    assert 3000 < tokens < 4000
    cache = engine._model.decoder.kv_tokens  # earlier tests left well under 512 tokens

    def cancel_once_prompt_eval_runs():
        while len(cache) < 512:  # the first 512-token batch has been decoded
            threading.Event().wait(0.001)
        engine.cancel()

    canceller = threading.Thread(target=cancel_once_prompt_eval_runs)
    canceller.start()
    _, finished = run(engine, long_prompt)
    canceller.join()
    assert finished.reason == "cancelled"
    assert finished.stats.completion_tokens == 0
    assert len(cache) < tokens  # evaluation stopped part-way, by the abort callback
    # The context is still consistent: the next reply is the same as ever.
    _, again = run(engine, HELLO)
    _, fresh = run(engine, HELLO)
    assert again.text == fresh.text and again.text


def test_prompt_longer_than_the_context_is_a_clear_error(smollm2_path):
    engine = LlamaEngine()
    engine.load(smollm2_path, LoadOptions(n_ctx=256))
    with pytest.raises(ContextOverflowError) as caught:
        run(engine, [{"role": "user", "content": "word " * 400}])
    assert "context holds 256" in str(caught.value)
    _, finished = run(engine, HELLO)  # still usable afterwards
    assert finished.text
    engine.unload()


def test_generation_without_a_model_says_so():
    with pytest.raises(NoModelLoadedError):
        LlamaEngine().generate(HELLO)


@pytest.mark.parametrize("name, content, error", [
    ("missing.gguf", None, ModelNotFoundError),
    ("empty.gguf", b"", NotGGUFError),
    ("notes.gguf", b"hello", NotGGUFError),
])
def test_a_bad_file_keeps_the_previous_model(engine, tmp_path, name, content, error):
    bad = tmp_path / name
    if content is not None:
        bad.write_bytes(content)
    before = engine.model_info
    with pytest.raises(error):
        engine.load(bad)
    assert engine.model_info is before
    _, finished = run(engine, HELLO)
    assert finished.text


def test_a_truncated_model_names_the_sizes(engine, tmp_path, smollm2_path):
    cut = tmp_path / "cut.gguf"
    with open(smollm2_path, "rb") as src:
        cut.write_bytes(src.read(50_000_000))
    with pytest.raises(TruncatedModelError) as caught:
        engine.load(cut)
    assert "truncated" in str(caught.value) and "50 MB of 98 MB" in str(caught.value)


def test_llama_cpp_logs_go_to_python_logging_not_stderr(smollm2_path, caplog, capfd):
    caplog.set_level(logging.DEBUG, logger="llama_cpp.native")
    engine = LlamaEngine()
    engine.load(smollm2_path, LoadOptions(n_ctx=512))
    run(engine, HELLO, GenerationParams(temperature=0.0, max_tokens=2))
    engine.unload()
    assert any(r.name == "llama_cpp.native" for r in caplog.records)
    out, err = capfd.readouterr()
    assert "llama_model_loader" not in err and "llama_context" not in err
    assert "llama_model_loader" not in out


def test_events_round_trip_as_plain_dicts(engine):
    deltas, finished = run(engine, HELLO, GenerationParams(temperature=0.0, max_tokens=4))
    for event in [*deltas, finished]:
        assert event_from_dict(event.to_dict()) == event


def test_seeded_sampling_is_repeatable(engine):
    params = GenerationParams(temperature=0.9, seed=1234, max_tokens=24)
    _, first = run(engine, HELLO, params)
    _, second = run(engine, HELLO, params)
    assert first.text == second.text


def test_a_gguf_without_a_template_gets_chatml_from_its_vocabulary(smollm2_copy):
    engine = LlamaEngine()
    info = engine.load(smollm2_copy, LoadOptions(n_ctx=512))
    assert info.chat_template.startswith("chatml") and "vocabulary" in info.chat_template
    prompt = engine.render_prompt([{"role": "system", "content": "Be brief."},
                                   {"role": "user", "content": "Hi"}])
    assert prompt.text == ("<|im_start|>system\nBe brief.<|im_end|>\n"
                           "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert "<|im_end|>" in prompt.stop_strings
    events = list(engine.generate([{"role": "user", "content": "Say hi"}],
                                  GenerationParams(max_tokens=16, temperature=0.0)))
    assert events[-1].text.strip() and "<|im_" not in events[-1].text
    engine.unload()


def test_a_catalog_chat_format_overrides_the_file(smollm2_path):
    engine = LlamaEngine()
    info = engine.load(smollm2_path, LoadOptions(n_ctx=512, chat_format="llama-3"))
    assert info.chat_template.startswith("llama-3")
    text = engine.render_prompt([{"role": "user", "content": "Hi"}]).text
    assert "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>" in text
    engine.unload()
