"""A context sized to the conversation (context_cells.py), with the real engine and model.

The model opens with a small llama.cpp context and is moved to a bigger one, its KV
cache copied across, whenever a prompt or a reply needs more room, up to the person's
context size. What a person could notice must not change: greedy answers are the same
as with the whole context allocated up front, the next turn still reuses the cache, a
full context still ends the reply, and a cancel still lands inside a long prompt.
"""

from __future__ import annotations

import threading

import pytest

from desktop_app.core.engine import GenerationParams, LlamaEngine, LoadOptions
from desktop_app.core.engine import llama_engine
from desktop_app.core.engine.context_cells import FIRST_CELLS, cells_for

LOG = ("Harbour log: the ferry Marigold docked at pier four at dawn with timber, salt and "
       "two crates of lamp oil; the wind was from the north-west. ")


def greedy(max_tokens: int) -> GenerationParams:
    return GenerationParams(temperature=0.0, max_tokens=max_tokens)


def conversation(engine, turns: int) -> list:
    """Greedy turns on a ~760-token log; each turn's ReplyFinished and the context's cells."""
    messages = [{"role": "user", "content": "Summarise this log.\n" + LOG * 20}]
    found = []
    for _ in range(turns):
        finished = list(engine.generate(messages, greedy(300)))[-1]
        found.append((finished, engine._model.decoder.cells))
        messages += [{"role": "assistant", "content": finished.text},
                     {"role": "user", "content": "Go on, in more detail."}]
    return found


def test_cells_double_until_they_hold_what_is_needed_within_the_cap():
    assert cells_for(600, 512, 4096) == 1024
    assert cells_for(1025, 512, 4096) == 2048
    assert cells_for(5000, 512, 4096) == 4096
    assert cells_for(300, 512, 4096) == 512
    assert cells_for(700, 512, 600) == 600


@pytest.fixture()
def engines(smollm2_path, monkeypatch):
    """One engine that grows its context from FIRST_CELLS, one with all 4,096 cells at once."""
    growing = LlamaEngine()
    growing.load(smollm2_path, LoadOptions(n_ctx=4096, n_threads=2))
    monkeypatch.setattr(llama_engine, "FIRST_CELLS", 4096)
    whole = LlamaEngine()
    whole.load(smollm2_path, LoadOptions(n_ctx=4096, n_threads=2))
    yield growing, whole
    growing.unload()
    whole.unload()


def test_a_growing_context_answers_exactly_as_a_whole_one_and_keeps_its_cache(engines):
    growing, whole = engines
    assert growing.model_info.context_size == whole.model_info.context_size == 4096
    assert growing._model.decoder.cells == FIRST_CELLS
    grown = conversation(growing, 3)
    reference = conversation(whole, 3)
    assert [f.text for f, _ in grown] == [f.text for f, _ in reference]
    cells = [c for _, c in grown]
    assert cells[0] > FIRST_CELLS and cells == sorted(cells) and cells[-1] <= 4096
    assert {c for _, c in reference} == {4096}
    for finished, _ in grown[1:]:  # the history was read from the cache, not again
        stats = finished.stats
        assert stats.cached_prompt_tokens > stats.prompt_tokens - 40


def test_growth_stops_at_the_context_size_and_the_reply_ends_there(smollm2_path):
    engine = LlamaEngine()
    try:
        engine.load(smollm2_path, LoadOptions(n_ctx=700, n_threads=2))
        prompt = [{"role": "user", "content": "Write a very long story about the harbour."}]
        finished = list(engine.generate(prompt, greedy(5000)))[-1]
        assert engine._model.decoder.cells == 700
        assert finished.reason == "context_full"
        assert finished.stats.prompt_tokens + finished.stats.completion_tokens == 700
    finally:
        engine.unload()


def test_a_cancel_lands_inside_a_prompt_that_made_the_context_grow(smollm2_path):
    engine = LlamaEngine()
    try:
        engine.load(smollm2_path, LoadOptions(n_ctx=4096, n_threads=2))
        messages = [{"role": "user", "content": "Summarise this log.\n" + LOG * 70}]
        prompt_tokens = engine.count_prompt_tokens(messages)
        assert prompt_tokens > 2 * FIRST_CELLS
        events = engine.generate(messages, greedy(8))
        timer = threading.Timer(0.2, engine.cancel)
        timer.start()
        finished = list(events)[-1]
        timer.join()
        assert finished.reason == "cancelled" and finished.stats.completion_tokens == 0
        decoder = engine._model.decoder
        assert decoder.cells >= prompt_tokens
        # the abort callback sat on the new context: evaluation stopped part-way
        assert len(decoder.kv_tokens) < prompt_tokens
    finally:
        engine.unload()
