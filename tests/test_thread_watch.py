"""Decode threads follow other programs while an answer streams (engine/thread_watch.py):
with a simulated clock and /proc meter, then with the real model beside a real busy
program."""

from __future__ import annotations

import subprocess
import sys

import pytest

from desktop_app.core.engine import thread_watch
from desktop_app.core.engine.thread_watch import ThreadWatch


class Machine:
    """A clock and a meter of other programs' CPU use, both set by the test."""

    def __init__(self) -> None:
        self.now = 100.0
        self.others = 0.0          # CPUs' worth other programs take from now on
        self.meters = 0

    def clock(self) -> float:
        return self.now

    def meter(self):
        self.meters += 1
        machine = self

        class Meter:
            def so_far(self):
                return machine.others

        return Meter()


def watch(quiet=2, current=2):
    machine, set_to = Machine(), []
    w = ThreadWatch(quiet, current, set_to.append, meter=machine.meter, clock=machine.clock)
    w.start()
    return w, machine, set_to


def tokens(w, machine, seconds, per_token=0.01):
    for _ in range(int(seconds / per_token)):
        machine.now += per_token
        w.after_token()


def test_a_busy_program_takes_a_thread_and_quiet_looks_give_it_back():
    w, machine, set_to = watch()
    tokens(w, machine, 2.0)                 # quiet: nothing changes
    assert set_to == [] and w.current == 2
    machine.others = 1.0
    tokens(w, machine, 0.6)
    assert set_to == [1] and w.current == 1
    assert w.reason == "other programs busy on 1.0 CPUs"
    machine.others = 0.0
    tokens(w, machine, 0.6)                 # one quiet look: not yet
    assert set_to == [1]
    tokens(w, machine, 0.6)                 # two in a row: back to the quiet count
    assert set_to == [1, 2] and w.reason == "other programs quiet again"
    assert w.note() == ""                   # all the quiet count again: nothing to say


def test_the_pause_between_replies_sets_the_next_replys_threads_at_once():
    w, machine, set_to = watch()
    machine.others = 1.0
    tokens(w, machine, 0.6)
    assert set_to == [1]
    machine.others = 0.0                    # the program ended while the person read
    machine.now += 5.0
    w.start()
    assert set_to == [1, 2]
    machine.others = 1.5                    # and another began before the next question
    machine.now += 5.0
    w.start()
    assert set_to == [1, 2, 1]
    w.start()                               # no pause at all: nothing to read yet
    assert set_to == [1, 2, 1]


def test_a_reply_starts_with_the_last_second_or_two_not_the_whole_pause():
    """A program busy for most of a long pause, then gone: the idle sampler's recent
    meter says quiet, so the prompt gets both threads back (the whole pause would not)."""
    w, machine, set_to = watch()
    machine.others = 1.0
    tokens(w, machine, 0.6)
    assert set_to == [1]
    for second in range(30):                # 30 s of pause, one sampler step a second
        machine.others = 1.0 if second < 25 else 0.0
        machine.now += 1.0
        w.idle_tick()
    machine.now += 0.4
    w.start()
    assert set_to == [1, 2]
    for _ in range(3):                      # and a program started in the last seconds
        machine.others = 1.0
        machine.now += 1.0
        w.idle_tick()
    w.start()
    assert set_to == [1, 2, 1]


def test_the_idle_sampler_thread_runs_until_closed():
    w, machine, _ = watch()
    w.run_idle_sampler()
    assert w._sampler.is_alive() and w._sampler.daemon
    w.close()
    w._sampler.join(timeout=5)
    assert not w._sampler.is_alive()


def test_bursts_do_not_flip_the_count_every_look():
    w, machine, set_to = watch()
    machine.others = 1.0
    tokens(w, machine, 0.6)
    for _ in range(6):                      # busy, quiet, busy, quiet...
        machine.others = 0.0 if machine.others else 1.0
        tokens(w, machine, 0.6)
    assert set_to == [1]


def test_never_below_one_nor_above_the_quiet_count_and_small_work_is_ignored():
    w, machine, set_to = watch(quiet=4, current=4)
    machine.others = 0.2                    # under hardware.BUSY_IGNORED
    tokens(w, machine, 1.2)
    assert set_to == []
    machine.others = 9.0
    tokens(w, machine, 0.6)
    assert set_to == [1]
    machine.others = 1.0                    # quieter, not quiet: 4 - 1 = 3
    tokens(w, machine, 1.2)
    assert set_to == [1, 3] and w.reason == "other programs quieter"
    # A load that started lowered (busy at load) says why, and rises when it can.
    machine, set_to = Machine(), []
    w = ThreadWatch(2, 1, set_to.append, meter=machine.meter, clock=machine.clock,
                    reason="other programs busy on 1.0 CPUs")
    assert w.note() == "other programs busy on 1.0 CPUs"
    w.start()
    tokens(w, machine, 1.2)
    assert set_to == [2] and w.note() == ""


def test_looks_cost_a_clock_read_until_one_is_due():
    w, machine, _ = watch()
    tokens(w, machine, 0.45)
    assert machine.meters == 1              # the one start() made
    tokens(w, machine, 0.1)
    assert machine.meters == 2


def test_without_proc_nothing_changes():
    machine, set_to = Machine(), []

    class Blind:
        def so_far(self):
            return None

    w = ThreadWatch(2, 2, set_to.append, meter=Blind, clock=machine.clock)
    w.start()
    tokens(w, machine, 3.0)
    assert set_to == []


# -- the real engine beside a real busy program ---------------------------------------------

BUSY = "import time\nend = time.time() + 120\nwhile time.time() < end:\n    pass\n"


@pytest.mark.model
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_engine_gives_a_core_up_to_a_program_that_gets_busy_mid_answer(smollm2_path,
                                                                            caplog):
    """Automatic threads on a quiet machine, then a program busy on one core starts: the
    answer goes on with a thread fewer; explicit threads are never changed."""
    from desktop_app.core import hardware
    from desktop_app.core.engine import GenerationParams, LlamaEngine, LoadOptions

    quiet = hardware.thread_choice(hardware.cpu_info()).threads
    if quiet < 2:
        pytest.skip("one usable core: there is no thread to give up")
    engine = LlamaEngine(thread_probe=None, others_busy=lambda: 0.0)
    info = engine.load(smollm2_path, LoadOptions(n_ctx=1024))
    assert info.n_threads == quiet
    watch = engine._model.decoder.watch
    assert watch is not None and watch.quiet == quiet
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        with caplog.at_level("INFO", logger=thread_watch.__name__):
            reply = engine.generate([{"role": "user", "content": "Write a long story."}],
                                    GenerationParams(temperature=0, max_tokens=400)).result()
        assert watch.current < quiet, (watch.current, reply.stats.decode_tokens_per_s)
        assert any("other programs busy" in r.getMessage() for r in caplog.records)
        assert reply.stats.n_threads == watch.current
        assert reply.stats.threads_note.startswith("other programs busy on ")
        sampler = watch._sampler
        assert sampler is not None and sampler.is_alive()
        engine.load(smollm2_path, LoadOptions(n_ctx=1024, n_threads=quiet))
        assert engine._model.decoder.watch is None
        engine.unload()
        sampler.join(timeout=5)
        assert not sampler.is_alive()  # closed with its model
    finally:
        busy.kill()
        busy.wait()
        engine.unload()
