"""Auto from the terminal, with the real model: `scalpel chat --preset auto --json` says
where the answer went and why; `scalpel route --json` decides without answering."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.model


def test_chat_auto_json_says_where_the_answer_went(scalpel):
    result = scalpel("chat", "--no-save", "--preset", "auto", "--json", "--max-tokens", "16",
                     "translate to German: good morning")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["routed_to"] == "translate" and figures["routing_step"] == "signals"
    assert figures["routing_reason"] == "asks for a translation into German"
    assert figures["answered_by"] == {"model": "SmolLM2 135M Instruct (starter)",
                                      "where": "local"}
    assert figures["escalation_reason"] is None
    signals = {s["name"]: s for s in figures["assessment"]["signals"]}
    assert signals["logprob_p10"]["value"] is not None and signals["logprob_p10"]["threshold"]
    assert "[Translate · SmolLM2 135M Instruct (starter) · asks for a translation" in \
        result.stderr


def test_chat_escalate_is_refused_with_a_sentence_when_not_set_up(scalpel):
    result = scalpel("chat", "--no-save", "--escalate", "hello")
    assert result.returncode == 1
    assert "escalation to a bigger model is off" in result.stderr.lower()
