"""Weak-answer signals (low token log-probabilities, a repetition loop, empty, cut off), the
before-answer checks, and the privacy rules that say whether a request may leave."""

from __future__ import annotations

import pytest

from desktop_app.core.engine.types import ReplyFinished, ReplyStats
from desktop_app.core.escalation import (Assessment, EscalationConfig, Thresholds, assess,
                                         before_answer, decide, preview, repetition_share)

CONFIDENT = ReplyStats(completion_tokens=40, scored_tokens=40, logprob_min=-2.1,
                       logprob_p05=-1.5, logprob_p10=-1.1, logprob_p25=-0.5, logprob_p50=-0.1,
                       logprob_mean=-0.4, first_token_margin=2.0)
PROSE = ("Paris is the capital of France. It lies on the Seine and is known for its museums, "
         "its cafes and the Eiffel Tower, which was built for the 1889 World's Fair.")


def finished(text=PROSE, reason="stop", **stats) -> ReplyFinished:
    return ReplyFinished(reason=reason, text=text,
                         stats=ReplyStats(**{**CONFIDENT.to_dict(), **stats}))


def test_a_confident_complete_answer_is_not_weak():
    result = assess(finished(), None, Thresholds())
    assert not result.weak and result.reasons == ()
    names = [s.name for s in result.signals]
    assert names == ["empty", "cut_off", "repetition", "logprob_p10", "logprob_mean",
                     "first_token_margin"]
    p10 = result.signal("logprob_p10")
    assert (p10.value, p10.threshold, p10.weak) == (-1.1, -3.0, False)
    assert Assessment.from_dict(result.to_dict()) == result


def test_low_token_log_probabilities_make_it_weak_with_the_figures():
    result = assess(finished(logprob_p10=-4.25), None, Thresholds(logprob_p10=-3.0))
    assert result.weak
    assert result.reasons == ("the model was unsure of its words (10th-percentile token "
                              "log-probability -4.25 < -3.00)",)
    # the optional bars count only when set
    margin = assess(finished(first_token_margin=0.1), None,
                    Thresholds(first_token_margin=0.5))
    assert margin.weak and "hesitated over its first word" in margin.reason
    assert not assess(finished(first_token_margin=0.1), None, Thresholds()).weak


def test_too_few_or_unmeasured_tokens_are_not_judged():
    few = assess(finished(scored_tokens=2, logprob_p10=-9.0), None, Thresholds())
    assert not few.weak and "not judged" in few.signal("logprob_p10").note
    remote = assess(finished(scored_tokens=0, logprob_p10=None, logprob_mean=None,
                             first_token_margin=None), None, Thresholds())
    assert not remote.weak and remote.signal("logprob_p10").value is None
    assert remote.signal("logprob_p10").note == "not measured by this engine"


def test_a_repetition_loop_is_weak_and_prose_or_a_list_is_not():
    loop = ("The answer is simple. " + "I think that the best way is to try again. " * 12)
    assert repetition_share(loop) > 0.9
    result = assess(finished(loop), None, Thresholds())
    assert result.weak and result.reasons[0].startswith("the answer repeats itself")
    assert repetition_share("no no no no no no no no no no no no no no") > 0.9
    listing = "\n".join(f"- step {n}: open file number {n} and check it" for n in range(20))
    assert repetition_share(listing) < 0.5
    assert repetition_share(PROSE) == 0.0
    cjk = "我不知道。" + "好的好的" * 20
    assert repetition_share(cjk) > 0.8
    # a loop cut mid-phrase still counts; the threshold is the dial
    mid = "Intro words here. " + "alpha beta gamma delta " * 8 + "alpha beta"
    assert repetition_share(mid) > 0.8
    assert not assess(finished(mid), None, Thresholds(repetition=1.0)).weak
    # and one cut inside a word, as a token limit leaves it
    cut = "Here is the translation: " + "kabul, " * 40 + "kab"
    assert repetition_share(cut) > 0.8


@pytest.mark.parametrize("reason, phrase", [
    ("length", "the answer was cut off at its length limit"),
    ("context_full", "the answer filled the local model's context"),
    ("repetition", "the answer fell into a loop and was stopped")])
def test_a_cut_off_answer_is_weak(reason, phrase):
    result = assess(finished(reason=reason), None, Thresholds())
    assert result.weak and result.reasons == (phrase,)


def test_an_empty_answer_is_weak_and_a_cancelled_one_is_not_judged():
    empty = assess(finished("  \n"), None, Thresholds())
    assert empty.weak and "the answer is empty" in empty.reasons
    assert not assess(finished("", reason="cancelled"), None, Thresholds()).weak


def test_before_the_answer_context_and_preset():
    fits = before_answer(prompt_tokens=1000, context_size=4096, reply_tokens=1024)
    assert not fits.weak and fits.stage == "before"
    too_big = before_answer(prompt_tokens=3500, context_size=4096, reply_tokens=1024)
    assert too_big.weak and too_big.reasons == (
        "the request (4,524 tokens with room for the answer) does not fit the local "
        "model's context (4,096)",)
    always = before_answer(prompt_tokens=10, context_size=4096, preset_escalate="always",
                           preset_name="Legal review")
    assert always.reasons == ("the task Legal review always goes to the bigger model",)
    assert not before_answer(prompt_tokens=10, context_size=4096,
                             preset_escalate="never").weak


ON = EscalationConfig.from_dict({"mode": "auto", "endpoint": "https://llm.example/v1",
                                 "model": "big", "tasks": ["code", "general"],
                                 "share_budget": 0.2})


def test_privacy_rules_in_order():
    assert decide(EscalationConfig(), preset_id="code", asked=True).code == "off"
    no_model = EscalationConfig.from_dict({"mode": "ask", "endpoint": "https://x/v1"})
    assert decide(no_model, preset_id="code", asked=True).code == "not_configured"
    keep = decide(ON, preset_id="code", asked=True, keep_local=True)
    assert not keep.allowed and "Keep on this computer" in keep.reason
    task = decide(ON, preset_id="email", asked=True)
    assert (task.allowed, task.code) == (False, "task")
    never = decide(ON, preset_id="code", asked=True, preset_escalate="never")
    assert never.code == "preset_never"
    budget = decide(ON, preset_id="code", asked=False, remote_share=0.25)
    assert (budget.allowed, budget.code) == (False, "budget")
    assert "25% of answers over the last 30 days" in budget.reason
    asked = decide(ON, preset_id="code", asked=True, remote_share=0.25)
    assert asked.allowed and not asked.needs_preview
    assert decide(ON, preset_id="general", asked=False, remote_share=0.1).allowed


def test_ask_mode_previews_the_first_escalation_of_a_chat():
    ask = EscalationConfig.from_dict({**ON.to_dict(), "mode": "ask"})
    first = decide(ask, preset_id="code", asked=True)
    assert first.allowed and first.needs_preview
    assert not decide(ask, preset_id="code", asked=True, chat_previewed=True).needs_preview
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Why does my build fail?\nerror: E0502"}]
    text = preview(messages, ask)
    assert text.startswith("To: https://llm.example/v1\nModel: big\n")
    assert "an encrypted (https) connection" in text and "without an API key" in text
    assert "--- system ---\nBe brief.\n--- user ---\nWhy does my build fail?\nerror: E0502" in text
