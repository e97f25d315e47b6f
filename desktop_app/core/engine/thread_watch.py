"""Decode threads that follow other programs while an answer streams.

A load chooses its threads once (``hardware.thread_choice``, ``thread_probe.py``),
giving up the cores other programs keep busy at that moment. But people start a
build, a video call or a second model while Scalpel is open, and llama.cpp with as
many threads as cores, beside another busy program, collapses: on this 2-core
machine 2 threads fell to 1-3 tokens/s (single tokens took up to 5 s) where 1
thread kept ~70 (``benchmarks/bench_busy.py``). So while a reply decodes, every
``INTERVAL_S`` this watch reads how much CPU other programs took since its last
look (``cpu_topology.OtherCpuUse``: /proc/stat and Scalpel's own processes, about
0.1 ms a look), and sets the context's threads to the load's quiet-machine count
less those cores (``hardware.busy_limit``, the rule the load uses), with
``llama_set_n_threads``: no reload, the next token uses it. Threads come back
only after ``QUIET_CHECKS`` quiet looks in a row, so a program that is busy in
bursts does not flip the count every half second, or at the start of a reply
when the pause since the last look was quiet.

Only automatic threads are watched: a number set in settings or policy is kept.
Where /proc cannot tell (not Linux), nothing changes.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from .. import cpu_topology, hardware

log = logging.getLogger(__name__)

INTERVAL_S = 0.5     # how often other programs' CPU use is read while decoding
MIN_WINDOW_S = 0.2   # a shorter look is too coarse (/proc counts 10 ms ticks)
QUIET_CHECKS = 2     # quiet looks in a row before threads are given back


class ThreadWatch:
    """One loaded model's decode threads: ``quiet`` on a quiet machine, fewer while
    other programs are busy. ``after_token()`` runs after every decode; it costs a
    clock read unless a look is due."""

    def __init__(self, quiet: int, current: int, set_threads: Callable[[int], None], *,
                 meter: Callable[[], object] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet = max(1, quiet)
        self.current = max(1, min(current, self.quiet))
        self.reason = ""                # why the count is what it is, once it changed
        self._set = set_threads
        self._new_meter = meter or (
            lambda: cpu_topology.OtherCpuUse(pids=cpu_topology.scalpel_pids()))
        self._clock = clock
        self._meter = None
        self._since = 0.0
        self._quiet_looks = 0

    def start(self) -> None:
        """A reply begins. Other programs' use since the last look (mostly the pause
        between replies, when this engine is idle and the count is clean) sets the
        threads at once, either way; the first reply counts from now."""
        if self._meter is None:
            self._meter, self._since = self._new_meter(), self._clock()
            return
        self.look(settled=True)

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
