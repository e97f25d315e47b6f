"""Prompt-lookup decoding (core/engine/prompt_lookup.py): drafts, the policy, and the
promise that it changes speed only, never the answer."""

from __future__ import annotations

import json

import pytest

from desktop_app.core.engine.prompt_lookup import DraftPolicy, NgramIndex
from desktop_app.core.engine.types import GenerationParams, ReplyFinished, TextDelta

# -- the n-gram index -------------------------------------------------------------------------

def test_draft_is_what_followed_the_tails_latest_earlier_occurrence():
    index = NgramIndex([1, 2, 3, 4, 5, 9, 2, 3, 4, 8, 6, 2, 3, 4])
    # "2 3 4" ends the tokens; its latest earlier occurrence is followed by 8, 6, 2, 3, 4
    assert index.draft(3) == ([8, 6, 2], 3)
    assert index.draft(10) == ([8, 6, 2, 3, 4], 3)


def test_the_longest_matching_ngram_wins_over_a_more_recent_shorter_one():
    index = NgramIndex([6, 5, 2, 3, 40, 41, 9, 5, 2, 3, 50, 51, 6, 5, 2, 3])
    # "6 5 2 3" occurred once (then 40, 41); "5 2 3" more recently (then 50, 51)
    assert index.draft(2) == ([40, 41], 4)


def test_no_draft_without_an_earlier_occurrence_or_from_a_single_token():
    assert NgramIndex([1, 2, 3, 4]).draft(5) == ([], 0)
    assert NgramIndex([7, 1, 9, 7]).draft(5) == ([], 0)  # one shared token is not a match
    assert NgramIndex([7, 8, 9, 7, 8]).draft(5) == ([], 0)  # nor two
    assert NgramIndex([]).draft(5) == ([], 0)


def test_appended_tokens_extend_what_can_be_drafted():
    index = NgramIndex([10, 11, 12, 13, 14])
    index.append(10)
    index.append(11)
    assert index.draft(3) == ([], 0)
    index.append(12)
    assert index.draft(3) == ([13, 14, 10], 3)


# -- the policy ---------------------------------------------------------------------------------

def test_the_first_step_times_a_single_decode_before_any_draft():
    policy = DraftPolicy()
    assert policy.length(8) == 0
    policy.record(0, 0, 0.010)
    assert policy.length(8) > 0


def test_drafts_stop_when_guesses_keep_failing_and_come_back_later():
    policy = DraftPolicy()
    policy.record(0, 0, 0.010)
    for _ in range(4):
        policy.record(policy.length(8, 3) or 2, 0, 0.020, 3)
    assert policy.length(8, 3) == 0     # four misses in a row after 3-token matches
    assert policy.length(8, 4) > 0      # a 4-token match has its own record
    for _ in range(250):                # plain steps: the misses age out
        policy.record(0, 0, 0.010)
    assert policy.length(8, 3) > 0


def test_a_draft_of_one_token_is_never_worth_a_batch():
    policy = DraftPolicy()
    policy.record(0, 0, 0.010)
    assert policy.length(1) == 0
    assert policy.length(12) >= 2


def test_draft_length_follows_acceptance_and_measured_batch_cost():
    cheap, dear = DraftPolicy(marginal=0.1), DraftPolicy(marginal=0.4)
    for policy in (cheap, dear):
        policy.record(0, 0, 0.010)
        policy.kept[4], policy.tried[4] = 18.0, 20.0     # 90% kept so far
    assert cheap.length(12) > dear.length(12) >= 2
    # a batch of 1 + 4 tokens that took 4 single decodes: (4 - 1 - 0.4) / 4 = 0.65 a token
    dear.record(4, 4, 0.040)
    assert 0.4 < dear.marginal < 0.65


# -- the real model: same answer, fewer decodes --------------------------------------------

TEXT = ("The reactor's cooling loop has three pumps, named Alder, Birch and Cedar. "
        "Alder runs during the day, Birch at night, and Cedar is the standby pump that "
        "starts when the pressure falls below 2.4 bar. Maintenance happens every 90 days, "
        "and the last inspection found a worn seal on Birch, replaced on 12 March.")


def _answer(engine, messages, **params):
    text, finished = [], None
    for event in engine.generate(messages, GenerationParams(**params)):
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, ReplyFinished):
            finished = event
    assert finished is not None and "".join(text) == finished.text
    return finished


def _settled(engine, messages, **params):
    """The answer from a cache that already holds all of the prompt but its last token
    (what a repeated request finds). A prompt's last token evaluated alone or inside the
    prompt's big first batch can differ in the last bits (llama.cpp's batches of 64+
    take other kernels), so two answers compared token for token start alike."""
    _answer(engine, messages, temperature=0, max_tokens=1)
    return _answer(engine, messages, **params)


@pytest.fixture(scope="module")
def exact_engine(smollm2_path):
    """SmolLM2 with flash attention on one thread: there llama.cpp gives a token the same
    logits whether it is decoded alone or in a batch of up to 33 (measured), which its
    other attention path, or 2 threads on a deep context, do not (see prompt_lookup.py)."""
    from desktop_app.core.engine import LlamaEngine, LoadOptions

    engine = LlamaEngine()
    engine.load(smollm2_path, LoadOptions(n_ctx=2048, n_threads=1, flash_attn=True))
    yield engine
    engine.unload()


COPY = [{"role": "user", "content": "Repeat this text word for word:\n\n" + TEXT}]
SUMMARY = [{"role": "system", "content": "You summarize texts faithfully."},
           {"role": "user", "content": "Summarize this text:\n\n" + TEXT}]
POEM = [{"role": "user", "content": "Write a short poem about autumn leaves."}]


@pytest.mark.parametrize("messages", [COPY, SUMMARY, POEM], ids=["copy", "summary", "poem"])
def test_greedy_answers_are_identical_with_and_without_lookup(exact_engine, messages):
    plain = _settled(exact_engine, messages, temperature=0, max_tokens=120)
    looked_up = _settled(exact_engine, messages, temperature=0, max_tokens=120,
                         prompt_lookup=True)
    assert looked_up.text == plain.text
    assert looked_up.stats.completion_tokens == plain.stats.completion_tokens
    assert plain.stats.draft_tokens == 0


def test_a_copying_answer_keeps_most_of_its_drafts(exact_engine):
    quote = [{"role": "user", "content": "Quote the first two sentences of this text "
                                         "exactly:\n\n" + TEXT}]
    reply = _answer(exact_engine, quote, temperature=0, max_tokens=120, prompt_lookup=True)
    assert reply.stats.draft_tokens >= 15
    assert reply.stats.draft_accepted >= 0.6 * reply.stats.draft_tokens
    assert reply.stats.draft_accepted < reply.stats.completion_tokens


def test_seeded_sampling_and_a_grammar_give_the_same_answer_with_lookup(exact_engine):
    """Each emitted token is one sampler call in the same order, so even the random
    draws line up; the grammar's state follows the same tokens."""
    sampled = dict(temperature=0.8, seed=1234, max_tokens=80)
    assert (_settled(exact_engine, SUMMARY, prompt_lookup=True, **sampled).text
            == _settled(exact_engine, SUMMARY, **sampled).text)
    schema = json.dumps({"type": "object", "properties": {
        "pumps": {"type": "array", "items": {"type": "string"}},
        "pressure_bar": {"type": "number"}}, "required": ["pumps", "pressure_bar"]})
    ask = [{"role": "user", "content": "Extract the pumps and the pressure as JSON:\n\n" + TEXT}]
    plain = _settled(exact_engine, ask, temperature=0, max_tokens=120, json_schema=schema)
    looked_up = _settled(exact_engine, ask, temperature=0, max_tokens=120, json_schema=schema,
                         prompt_lookup=True)
    assert looked_up.text == plain.text and looked_up.text.startswith("{")
    if looked_up.reason == "stop":
        json.loads(looked_up.text)


def test_drafts_cut_off_mid_batch_never_stay_in_the_cache(exact_engine, smollm2_path):
    """A reply stopped by its token budget in the middle of a kept draft: the next turn
    (which reuses the cache's prefix) answers as an engine that never drafted does."""
    from desktop_app.core.engine import LlamaEngine, LoadOptions

    first = _answer(exact_engine, COPY, temperature=0, max_tokens=17, prompt_lookup=True)
    assert first.reason == "length" and first.stats.draft_accepted > 0
    follow_up = COPY + [{"role": "assistant", "content": first.text},
                        {"role": "user", "content": "Which pump is the standby?"}]
    again = _answer(exact_engine, follow_up, temperature=0, max_tokens=40)
    assert again.stats.cached_prompt_tokens > 0
    fresh = LlamaEngine()
    fresh.load(smollm2_path, LoadOptions(n_ctx=2048, n_threads=1, flash_attn=True))
    try:
        assert _answer(fresh, follow_up, temperature=0, max_tokens=40).text == again.text
    finally:
        fresh.unload()


def test_presets_that_copy_their_input_opt_in(tmp_path):
    from desktop_app.core.preset_store import PresetStore
    from desktop_app.core.resources import resource_path

    store = PresetStore(builtin_dir=resource_path("presets"), user_dir=tmp_path)
    by_id = {preset.id: preset for preset in store.list()}
    assert {p for p, preset in by_id.items() if preset.prompt_lookup} == {
        "summarize", "json", "code"}
    assert by_id["summarize"].generation_params().prompt_lookup
    assert not by_id["general"].generation_params().prompt_lookup
    # a person's copy of a preset keeps the choice
    saved = store.save(by_id["summarize"].with_changes(id="my-summary", builtin=False))
    store.reload()
    assert store.get(saved.id).prompt_lookup


def test_the_status_line_says_how_many_guessed_tokens_were_kept(qtbot):
    from PySide6.QtWidgets import QStatusBar

    from desktop_app.core.engine.types import ReplyStats
    from desktop_app.ui.status_line import StatusLine

    bar = QStatusBar()
    qtbot.addWidget(bar)
    line = StatusLine(bar)
    line.show_reply(ReplyStats(decode_tokens_per_s=61.0, draft_tokens=48, draft_accepted=35))
    assert "35 of 48 tokens guessed" in line.speed.toolTip()
    line.show_reply(ReplyStats(decode_tokens_per_s=55.0))
    assert line.speed.toolTip() == "" and line.speed.text() == "55.0 tok/s"
    line.show_reply(ReplyStats(decode_tokens_per_s=68.0, n_threads=1,
                               threads_note="other programs busy on 1.0 CPUs"))
    assert line.speed.text() == "68.0 tok/s · 1 thread"
    assert line.speed.toolTip() == ("Decoded on 1 thread: other programs busy on 1.0 CPUs. "
                                    "More are used again when they are quiet.")
