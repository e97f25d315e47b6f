"""How many generation requests the API holds at once, and what the rest are told.

The engine answers one request at a time (the window's answers included); requests
beyond the one running wait in line. ``Admission`` bounds that line: a request that
finds it full gets 429 with ``Retry-After`` (seconds), estimated from how long recent
requests took, so a flood cannot pile up threads and memory while the server stays
free to answer the others.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from .errors import ApiError


class Admission:
    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._lock = threading.Lock()
        self._held = 0
        self._durations: deque[float] = deque(maxlen=20)
        self.refused = 0

    @property
    def held(self) -> int:
        return self._held

    def enter(self) -> "Ticket":
        """A place in line, or ApiError(429) with Retry-After when the line is full."""
        with self._lock:
            if self._held >= self.size:
                self.refused += 1
                wait = self.retry_after_locked()
                raise ApiError(429, f"Scalpel is answering {self._held} requests already "
                               f"(it answers one at a time and holds at most {self.size}); "
                               f"try again in {wait} s.", None, "queue_full",
                               {"Retry-After": str(wait)})
            self._held += 1
        return Ticket(self)

    def retry_after_locked(self) -> int:
        typical = (sum(self._durations) / len(self._durations)) if self._durations else 2.0
        return max(1, min(60, math.ceil(typical * self._held / 2)))

    def _leave(self, seconds: float) -> None:
        with self._lock:
            self._held -= 1
            self._durations.append(seconds)


class Ticket:
    """Held from admission to the last byte sent; ``release`` is idempotent."""

    def __init__(self, admission: Admission) -> None:
        self._admission = admission
        self._started = time.monotonic()
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._admission._leave(time.monotonic() - self._started)
