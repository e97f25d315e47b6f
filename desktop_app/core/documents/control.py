"""Pause, resume and cancel for a run of the indexer, from any thread.

The indexer calls ``checkpoint()`` between files and between embedding batches: it
blocks while paused and returns False once cancelled. Work already committed stays
(a cancelled or paused run resumes from the store, not from memory).
"""

from __future__ import annotations

import threading


class IndexControl:
    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._cancelled = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set() and not self.cancelled

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def cancel(self) -> None:
        self._cancelled.set()
        self._running.set()  # a paused run wakes up to stop

    def checkpoint(self) -> bool:
        """Wait while paused; False when the run should stop."""
        while not self._running.wait(0.5):
            pass
        return not self.cancelled
