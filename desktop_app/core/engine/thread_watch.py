"""Decode threads that follow other programs while an answer streams.

A load chooses its threads once (``hardware.thread_choice``, ``thread_probe.py``),
giving up the cores other programs keep busy at that moment. But people start a
build, a video call or a second model while Scalpel is open, and llama.cpp with as
many threads as cores, beside another busy program, collapses: on this 2-core
machine 2 threads fell to 31-40 tokens/s beside one busy loop (1-3 tokens/s at a
load average of 3-6, single tokens taking up to 5 s) where 1 thread kept ~68
(``benchmarks/bench_busy.py``). So the watch reads how much CPU other programs
took (``cpu_topology.OtherCpuUse``: /proc/stat and Scalpel's own processes, about
0.1 ms a read) and sets the context's threads to the load's quiet-machine count
less those cores (``hardware.busy_limit``, the rule the load uses), with
``llama_set_n_threads``: no reload, the next token uses it.

* While a reply decodes: a look every ``INTERVAL_S``. Threads come back only after
  ``QUIET_CHECKS`` quiet looks in a row, so a program busy in bursts does not flip
  the count every half second.
* When a reply starts: the last ``IDLE_TICK_S`` to twice that, from a sampler
  thread that only swaps two meters while the model sits loaded (no decoding, so the
  figure is other programs alone). This one look sets the prompt's threads either
  way: a program that ended while the person read gives its core back at once, and
  one started meanwhile takes it before the prompt, not after.

Only automatic threads are watched: a number set in settings or policy is kept.
Where /proc cannot tell (not Linux), nothing changes.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from .. import cpu_topology, hardware

log = logging.getLogger(__name__)

INTERVAL_S = 0.5     # how often other programs' CPU use is read while decoding
MIN_WINDOW_S = 0.2   # a shorter look is too coarse (/proc counts 10 ms ticks)
QUIET_CHECKS = 2     # quiet looks in a row before threads are given back
IDLE_TICK_S = 1.0    # the sampler thread's period: a reply starts on the last 1-2 s


class ThreadWatch:
    """One loaded model's decode threads: ``quiet`` on a quiet machine, fewer while
    other programs are busy. ``after_token()`` runs after every decode; it costs a
    clock read unless a look is due. ``run_idle_sampler()`` starts the thread that
    keeps a recent figure for ``start()``; ``close()`` stops it."""

    def __init__(self, quiet: int, current: int, set_threads: Callable[[int], None], *,
                 meter: Callable[[], object] | None = None,
                 clock: Callable[[], float] = time.monotonic, reason: str = "") -> None:
        self.quiet = max(1, quiet)
        self.current = max(1, min(current, self.quiet))
        self.reason = reason            # why the count is what it is (the load's, at first)
        self._set = set_threads
        self._new_meter = meter or (
            lambda: cpu_topology.OtherCpuUse(pids=cpu_topology.scalpel_pids()))
        self._clock = clock
        self._meter = None
        self._since = 0.0
        self._quiet_looks = 0
        self._lock = threading.Lock()
        self._idle: list[tuple[object, float]] = []   # (meter, its start), oldest first
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    # -- between replies ----------------------------------------------------------
    def run_idle_sampler(self) -> None:
        self._sampler = threading.Thread(target=self._sample_idle, daemon=True,
                                         name="scalpel-thread-watch")
        self._sampler.start()

    def _sample_idle(self) -> None:
        while not self._stop.wait(IDLE_TICK_S):
            self.idle_tick()

    def idle_tick(self) -> None:
        """Start a new idle meter and keep the one before it (the sampler's step)."""
        meter = self._new_meter()
        with self._lock:
            self._idle = [*self._idle[-1:], (meter, self._clock())]

    def close(self) -> None:
        self._stop.set()

    # -- a reply --------------------------------------------------------------------
    def start(self) -> None:
        """A reply begins: set the threads from other programs' recent use (the idle
        sampler's older meter, 1-2 s; else everything since the last look), either way."""
        now = self._clock()
        with self._lock:
            recent = next((m for m, since in self._idle
                           if MIN_WINDOW_S <= now - since <= 2 * IDLE_TICK_S + 0.5), None)
        if recent is not None:
            self._apply(recent.so_far(), settled=True)
        elif self._meter is not None:
            self.look(now, settled=True)
        self._meter, self._since = self._new_meter(), now

    def after_token(self) -> None:
        now = self._clock()
        if now - self._since < INTERVAL_S or self._meter is None:
            return
        self.look(now)

    def look(self, now: float | None = None, *, settled: bool = False) -> None:
        """Read other programs' CPU use since the last look and set the threads;
        ``settled``: one quiet look is enough to give threads back."""
        now = self._clock() if now is None else now
        if now - self._since < MIN_WINDOW_S:
            return
        busy = self._meter.so_far() if self._meter is not None else None
        self._meter, self._since = self._new_meter(), now
        self._apply(busy, settled=settled)

    def _apply(self, busy: float | None, *, settled: bool) -> None:
        if busy is None:
            return
        target, why = hardware.busy_limit(self.quiet, busy)
        if target < self.current:
            self._quiet_looks = 0
            self._change(target, why or "")
        elif target > self.current:
            self._quiet_looks += 1
            if self._quiet_looks >= QUIET_CHECKS or settled:
                self._quiet_looks = 0
                self._change(target, "other programs quieter" if target < self.quiet
                             else "other programs quiet again")
        else:
            self._quiet_looks = 0

    def note(self) -> str:
        """Why fewer threads than on a quiet machine decode now ("" when they do not)."""
        return self.reason if self.current < self.quiet else ""

    def _change(self, threads: int, why: str) -> None:
        log.info("decode threads %d -> %d: %s", self.current, threads, why)
        self._set(threads)
        self.current, self.reason = threads, why
