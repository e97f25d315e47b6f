"""The embedder decodes texts in groups of at most GROUP_TOKENS tokens (embedder.py says
why: 1.9x as fast as llama-cpp-python's 2,048-token packing, and steadier than one text
per decode on a busy machine), and the grouping changes neither the vectors nor their order;
and its thread count, like the chat model's, leaves the cores other programs keep busy."""

from __future__ import annotations

import math

from desktop_app.core import hardware
from desktop_app.core.engine import LlamaEngine, llama_api
from desktop_app.core.engine.embedder import GROUP_TOKENS, token_groups


def test_groups_are_consecutive_and_within_the_limit():
    assert token_groups([200, 200, 200, 600, 100, 100], 512) == [
        range(0, 2), range(2, 3), range(3, 4), range(4, 6)]
    assert token_groups([], 512) == []
    assert token_groups([5] * 4, 1) == [range(i, i + 1) for i in range(4)]
    assert token_groups([5] * 4, 2048) == [range(0, 4)]


def test_passages_are_embedded_a_group_at_a_time_with_the_same_vectors(smollm2_path,
                                                                         monkeypatch):
    texts = [f"Passage {n}: " + " ".join(["the boiler pressure gauge reads one bar"] * 25)
             for n in range(6)]  # ~200 tokens each: two per group of 512
    engine = LlamaEngine()
    try:
        alone = [engine.embed([text], model=str(smollm2_path))[0] for text in texts]
        calls: list[int] = []
        real = llama_api.embed_texts
        monkeypatch.setattr(llama_api, "embed_texts",
                            lambda llama, group: calls.append(len(group)) or real(llama, group))
        together = engine.embed(texts, model=str(smollm2_path))
    finally:
        engine.unload()
    assert GROUP_TOKENS == 512 and calls == [2, 2, 2]
    for a, b in zip(alone, together):
        assert math.isclose(sum(x * y for x, y in zip(a, b)), 1.0, abs_tol=1e-3)
    # and each text is nearer its own vector than any other's (the order is kept)
    for i, vector in enumerate(together):
        cosines = [sum(x * y for x, y in zip(vector, other)) for other in alone]
        assert max(range(len(cosines)), key=cosines.__getitem__) == i


def test_the_embedding_context_takes_fewer_threads_beside_busy_programs(smollm2_path):
    engine = LlamaEngine()
    cpu = engine._cpu
    busy = float(max(1, cpu.logical))  # every CPU busy with other programs
    engine._embedder._others_busy = lambda: busy
    try:
        engine.embed(["the boiler pressure gauge"], model=str(smollm2_path))
        chosen = engine._embedder.threads
    finally:
        engine.unload()
    assert chosen == hardware.choose_threads(cpu, None, others_busy=busy)
    assert chosen == 1 or chosen < hardware.choose_threads(cpu, None)
