"""Greedy answers under a grammar (the Extract to JSON preset) check the model's top token
alone before paying for the whole vocabulary (decode.Sampler._grammar_first): the same
answer as the grammar applied to every token, for fewer vocabulary passes."""

from __future__ import annotations

import json

import pytest

from desktop_app.core.engine import GenerationParams, LlamaEngine, LoadOptions, decode
from desktop_app.core.engine.llama_api import TokenCheck

pytestmark = pytest.mark.model

TEXT = ("Order 4471 was placed by Dana Whitfield on 3 May for two pallets of copper pipe "
        "(12 mm, 240 metres in all) and one box of brass elbows, to be delivered to the "
        "Leeds depot by 9 May; the invoice total is 1,284.50 euros.")
SCHEMA = json.dumps({"type": "object", "properties": {
    "order": {"type": "integer"}, "customer": {"type": "string"},
    "items": {"type": "array", "items": {"type": "string"}},
    "total_eur": {"type": "number"}, "urgent": {"type": "boolean"}},
    "required": ["order", "customer", "items", "total_eur", "urgent"]})
ASK = [{"role": "user", "content": "Extract the order as JSON:\n\n" + TEXT}]


@pytest.fixture(scope="module")
def engine(smollm2_path):
    engine = LlamaEngine(thread_probe=None)
    engine.load(smollm2_path, LoadOptions(n_ctx=1024, n_threads=1))
    yield engine
    engine.unload()


def _answer(engine, **params):
    """The answer from a cache that holds all of the prompt but its last token, so that
    both answers compared start alike (see test_prompt_lookup._settled)."""
    engine.generate(ASK, GenerationParams(temperature=0, max_tokens=1)).result()
    return engine.generate(ASK, GenerationParams(**params)).result()


def test_the_answer_is_the_grammar_over_every_token(engine, monkeypatch):
    checked = {"allowed": 0, "refused": 0}
    allows = TokenCheck.allows

    def counting(self, stage, token):
        verdict = allows(self, stage, token)
        checked["allowed" if verdict else "refused"] += 1
        return verdict

    monkeypatch.setattr(TokenCheck, "allows", counting)
    params = dict(temperature=0, max_tokens=160, json_schema=SCHEMA)
    first = _answer(engine, **params)
    assert checked["allowed"] > 20 and checked["refused"] >= 1  # both ways were taken
    monkeypatch.setattr(decode, "_greedy_under_grammar", lambda params: False)
    everywhere = _answer(engine, **params)
    assert first.text == everywhere.text and first.text.startswith("{")
    assert first.stats.completion_tokens == everywhere.stats.completion_tokens
    if first.reason == "stop":
        assert set(json.loads(first.text)) >= {"order", "customer", "items"}


def test_only_greedy_unpenalised_grammars_take_the_shortcut():
    grammar = 'root ::= "a"'
    assert decode._greedy_under_grammar(GenerationParams(temperature=0, grammar=grammar))
    assert not decode._greedy_under_grammar(GenerationParams(temperature=0))
    assert not decode._greedy_under_grammar(GenerationParams(temperature=0.3, grammar=grammar))
    assert not decode._greedy_under_grammar(GenerationParams(temperature=0, grammar=grammar,
                                                             repeat_penalty=1.1))
