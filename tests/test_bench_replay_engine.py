"""The GUI streaming benchmark's replay engine keeps to the engine contract and sends
its text in the engine process's batches, so the window it measures is fed as in use."""

from __future__ import annotations

import threading
import time

from benchmarks.bench_gui_stream import ReplayEngine, answer_pieces
from desktop_app.core.engine import ReplyFinished, TextDelta
from desktop_app.core.engine.child import STREAM_FLUSH_S
from desktop_app.core.engine.contract import Generation

HELLO = [{"role": "user", "content": "Tell me a story."}]


def read(handle: Generation) -> tuple[list[str], ReplyFinished]:
    events = list(handle)
    assert isinstance(events[-1], ReplyFinished)
    assert all(isinstance(e, TextDelta) for e in events[:-1])
    return [e.text for e in events[:-1]], events[-1]


def test_it_hands_out_a_generation_with_a_model_already_there():
    engine = ReplayEngine(["a"], rate=1000)
    assert engine.model_info is not None and engine.loaded_models() == [engine.model_info]
    assert isinstance(engine.generate(HELLO), Generation)


def test_text_comes_in_batches_the_first_piece_at_once():
    pieces = answer_pieces(60)
    engine = ReplayEngine(pieces, rate=1000)  # ~60 ms of answer: two to four batches
    started = time.monotonic()
    deltas, finished = read(engine.generate(HELLO))
    seconds = time.monotonic() - started
    assert deltas[0] == pieces[0]
    assert 2 <= len(deltas) <= seconds / STREAM_FLUSH_S + 2 < len(pieces)
    assert "".join(deltas) == finished.text == "".join(pieces)
    assert finished.reason == "stop" and finished.stats.completion_tokens == len(pieces)
    assert engine.batches == len(deltas)


def test_a_handle_cancelled_before_its_first_read_streams_nothing():
    handle = ReplayEngine(answer_pieces(50), rate=1000).generate(HELLO)
    handle.cancel()
    deltas, finished = read(handle)
    assert deltas == [] and finished.reason == "cancelled"


def test_cancel_while_it_streams_keeps_what_was_sent():
    engine = ReplayEngine(answer_pieces(5000), rate=1000)  # 5 s uncancelled
    with engine.generate(HELLO) as handle:
        first = next(handle)
        threading.Timer(3 * STREAM_FLUSH_S, engine.cancel).start()
        deltas, finished = read(handle)
    assert finished.reason == "cancelled"
    assert finished.text == first.text + "".join(deltas)
    assert finished.stats.completion_tokens < 1000
