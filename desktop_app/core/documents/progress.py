"""Progress of an indexing run, as plain data for a progress bar or a terminal line.

``seconds_left`` comes from the bytes (reading) or chunks (embedding) still to do at
the rate measured so far in this run, so one big PDF moves the bar by its size rather
than as one file among many; None until there is a rate to go by.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class IndexProgress:
    phase: str                       # scanning, reading, embedding, done, cancelled
    files_done: int = 0
    files_total: int = 0
    pages: int = 0
    chunks: int = 0
    chunks_total: int = 0            # embedding: chunks to embed in this collection
    chunks_per_second: float = 0.0
    seconds_left: float | None = None
    current: str | None = None       # the file just read

    @property
    def fraction(self) -> float | None:
        if self.phase == "reading" and self.files_total:
            return self.files_done / self.files_total
        if self.phase == "embedding" and self.chunks_total:
            return self.chunks / self.chunks_total
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "IndexProgress":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class RateClock:
    """Work done against time since the run's first unit of this phase."""

    def __init__(self, clock: Callable[[], float], *, total: int) -> None:
        self.clock, self.total = clock, total
        self.started = clock()
        self.done = 0
        self.chunks = 0

    def advance(self, amount: int, *, chunks: int) -> None:
        self.done += amount
        self.chunks = chunks

    def _elapsed(self) -> float:
        return max(self.clock() - self.started, 1e-6)

    def chunks_per_second(self) -> float:
        return self.chunks / self._elapsed()

    def seconds_left(self) -> float | None:
        if self.done <= 0 or self.total <= 0:
            return None
        return max(0.0, (self.total - self.done) * self._elapsed() / self.done)
