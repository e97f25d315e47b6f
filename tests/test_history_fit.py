"""Long chats: the oldest turns leave the prompt, the system prompt never does."""

from __future__ import annotations

import pytest

from desktop_app.core.engine import GenerationParams
from desktop_app.core.engine.history_fit import HistoryFitter
from desktop_app.core.errors import ContextOverflowError


def word_tokens(messages):
    """One token per word plus four per message: a stand-in tokenizer for unit tests."""
    return [0] * sum(4 + len(m["content"].split()) for m in messages)


def chat(turns: int, words: int = 20, system: str | None = "Be kind.") -> list[dict]:
    messages = [{"role": "system", "content": system}] if system else []
    for n in range(turns):
        messages.append({"role": "user", "content": f"question {n} " + "w " * words})
        messages.append({"role": "assistant", "content": f"answer {n} " + "w " * words})
    return messages


def test_a_short_chat_is_sent_whole():
    fitted = HistoryFitter().fit(chat(3), n_ctx=1000, max_tokens=100, tokenize=word_tokens)
    assert fitted.dropped == 0 and len(fitted.messages) == 7


def test_the_oldest_turns_go_and_the_system_prompt_stays():
    messages = chat(30) + [{"role": "user", "content": "last question"}]
    fitted = HistoryFitter().fit(messages, n_ctx=1000, max_tokens=100, tokenize=word_tokens)
    kept = fitted.messages
    assert kept[0] == {"role": "system", "content": "Be kind."}
    assert kept[1]["role"] == "user" and kept[-1]["content"] == "last question"
    assert fitted.dropped > 0 and fitted.dropped % 2 == 0
    assert len(fitted.tokens) <= 0.6 * (1000 - 100) + 1
    assert kept[1:] == messages[1 + fitted.dropped:]


def test_the_cut_is_kept_while_the_next_turns_fit_so_the_prefix_stays_the_same():
    fitter = HistoryFitter()
    messages = chat(30) + [{"role": "user", "content": "q"}]
    first = fitter.fit(messages, n_ctx=1000, max_tokens=100, tokenize=word_tokens)
    messages += [{"role": "assistant", "content": "a"}, {"role": "user", "content": "q2"}]
    second = fitter.fit(messages, n_ctx=1000, max_tokens=100, tokenize=word_tokens)
    assert second.dropped == first.dropped
    assert second.messages[:len(first.messages)] == first.messages  # a shared prefix


def test_a_single_long_message_uses_the_room_left_or_overflows():
    long = [{"role": "user", "content": "w " * 850}]
    fitted = HistoryFitter().fit(long, n_ctx=1000, max_tokens=500, tokenize=word_tokens)
    assert fitted.dropped == 0
    with pytest.raises(ContextOverflowError):
        HistoryFitter().fit([{"role": "user", "content": "w " * 2000}], n_ctx=1000,
                            max_tokens=100, tokenize=word_tokens)


def test_with_the_real_model_a_long_chat_still_answers(engine):
    history = []
    for n in range(40):
        history += [{"role": "user", "content": f"Fact {n}: " + "the sky is blue. " * 20},
                    {"role": "assistant", "content": "Noted. " * 30}]
    messages = [{"role": "system", "content": "You are terse."}, *history,
                {"role": "user", "content": "Say OK."}]
    assert engine.count_prompt_tokens(messages) > 4096  # far beyond the context
    finished = list(engine.generate(messages, GenerationParams(max_tokens=8, temperature=0)))[-1]
    assert finished.stats.dropped_messages > 0 and finished.stats.dropped_messages % 2 == 0
    assert finished.stats.prompt_tokens < 4096 and finished.stats.completion_tokens > 0
    prompt = engine.render_prompt([messages[0], *messages[1 + finished.stats.dropped_messages:]])
    assert prompt.text.startswith("<|im_start|>system\nYou are terse.")
