"""The session's one worker thread: engine requests run there, in the order asked.

Qt-free on purpose: the window, the terminal chat and the API all get their
engine work off the caller's thread the same way.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

log = logging.getLogger(__name__)


class JobThread:
    def __init__(self, name: str = "scalpel-session") -> None:
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._idle = threading.Event()
        self._idle.set()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            self._pending += 1
            self._idle.clear()
        self._jobs.put(job)

    @property
    def pending(self) -> int:
        """Jobs queued or running."""
        return self._pending

    def on_worker(self) -> bool:
        return threading.current_thread() is self._thread

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every job submitted so far has run; False on timeout."""
        return self._idle.wait(timeout)

    def close(self, timeout: float | None = 10.0) -> bool:
        """Run what is queued, then end the thread; False if it did not end in time."""
        self._jobs.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:  # noqa: BLE001 - a job reports its own failures; this is a bug
                log.exception("a session job failed")
            finally:
                with self._lock:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.set()
