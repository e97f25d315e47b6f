"""An answer that loops on one short phrase is stopped as it decodes (engine/repetition.py):
the guard on token sequences, then the real engine and model."""

from __future__ import annotations

import pytest

from desktop_app.core.engine.repetition import MAX_PERIOD, MIN_RUN, LoopGuard


def fed(tokens, **options) -> int | None:
    """How many tokens the guard took before it said "loop" (None: never)."""
    guard = LoopGuard(**options)
    for count, token in enumerate(tokens, start=1):
        if guard.feed(token):
            return count
    return None


@pytest.mark.parametrize("period", [1, 2, 7, MAX_PERIOD])
def test_a_phrase_said_again_and_again_is_a_loop_once_it_runs_min_run_tokens(period):
    phrase = list(range(100, 100 + period))
    opening = [1, 2, 3, 4, 5]
    tokens = opening + phrase * (MIN_RUN // period + 3)
    guard = LoopGuard()
    at = fed(tokens)
    # the first copy of the phrase, then MIN_RUN tokens that each repeat one period back
    assert at == len(opening) + period + MIN_RUN
    for token in tokens[:at]:
        guard.feed(token)
    assert guard.period == period


def test_a_longer_phrase_than_max_period_is_left_alone():
    phrase = list(range(100, 100 + MAX_PERIOD + 1))
    assert fed(phrase * 20) is None


def test_one_token_that_changes_breaks_the_run():
    line = [7, 8, 9, 10]            # "row", "=", "0", "\n"
    almost = (line * (MIN_RUN // len(line) - 2)) + [11] + line * 4
    assert fed(almost) is None


def test_lists_and_tables_that_change_a_number_each_line_never_trip_it():
    numbered = []
    for n in range(300):                       # "- item 1\n- item 2\n..."
        numbered += [50, 51, 1000 + n, 52]
    assert fed(numbered) is None
    table = []
    for row in range(200):                     # "| a | 0 | 0 | 0 |" with a changing label
        table += [60, 2000 + row, 60, 61, 60, 61, 60, 61, 60, 62]
    assert fed(table) is None


def test_a_short_repeat_then_new_text_is_not_a_loop():
    tokens = [5] * (MIN_RUN // 2) + list(range(200, 400)) + [6] * (MIN_RUN // 2)
    assert fed(tokens) is None


def test_thresholds_are_options():
    assert fed([3] * 12, min_run=10) == 11
    assert fed([1, 2, 3] * 30, max_period=2) is None


# -- the real engine and model ----------------------------------------------------------

LOOPS = "Write the letter a over and over without stopping."   # SmolLM2 greedy: "Z, Z, Z…"


@pytest.mark.model
def test_the_engine_stops_a_looping_answer_and_keeps_what_it_wrote(engine):
    from desktop_app.core.engine import GenerationParams

    messages = [{"role": "user", "content": LOOPS}]
    params = GenerationParams(temperature=0, max_tokens=400)
    guarded = engine.generate(messages, params).result()
    free = engine.generate(messages, GenerationParams(temperature=0, max_tokens=400,
                                                      stop_loops=False)).result()
    assert (guarded.reason, free.reason) == ("repetition", "length")
    assert guarded.stats.completion_tokens < free.stats.completion_tokens - 200
    assert free.text.startswith(guarded.text.rstrip())   # the same tokens up to the stop
    assert guarded.text.strip() and guarded.stats.completion_tokens > MIN_RUN


@pytest.mark.model
def test_a_json_answer_under_its_grammar_is_never_stopped_as_a_loop(engine):
    """A list may hold one item many times, and JSON cut short is no JSON: under a grammar
    the guard is off, even where the answer does loop (here the person asked for it)."""
    from desktop_app.core.engine import GenerationParams
    schema = '{"type": "object", "properties": {"words": {"type": "array", "items": ' \
             '{"type": "string"}}}, "required": ["words"]}'
    finished = engine.generate([{"role": "user", "content": "Write the word yes 100 times."}],
                               GenerationParams(temperature=0, max_tokens=300,
                                                json_schema=schema)).result()
    assert finished.reason == "length" and finished.stats.completion_tokens == 300
    assert finished.text.count('"yes", ') >= 60   # 3 tokens a copy: a loop the guard sees


@pytest.mark.model
def test_the_window_says_why_a_looping_answer_stopped(qtbot, open_window, services):
    from gui_helpers import send, started, write_user_preset

    write_user_preset(services, "greedy", name="Greedy", system_prompt="",
                      sampling={"temperature": 0.0}, max_tokens=400)
    window = started(qtbot, open_window(last_preset="greedy"))
    assert window.chat.preset.id == "greedy"
    finished = send(qtbot, window, LOOPS)
    assert finished.reason == "repetition"
    shown = window.view.toPlainText()
    assert "Stopped: the model kept repeating itself. Regenerate, or try a bigger model." in shown
    stored = services.chat_store.path(window.chat.chat_id)[-1]
    assert stored.status == "complete" and stored.stats["reason"] == "repetition"
