"""Callbacks told of a change: the one listener list the core's objects share.

Thread-safe: listeners may be added or removed from any thread, and are called
on the thread where the change happened. One that raises is logged and does not
stop the others.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Generic, TypeVar

log = logging.getLogger(__name__)

L = TypeVar("L", bound=Callable[..., Any])


class Listeners(Generic[L]):
    def __init__(self, what: str) -> None:
        self._what = what  # for the log: "a <what> listener failed"
        self._lock = threading.Lock()
        self._items: list[L] = []

    def add(self, listener: L) -> Callable[[], None]:
        """Call ``listener`` on every change from now on; returns the unsubscribe."""
        with self._lock:
            self._items.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._items:
                    self._items.remove(listener)
        return remove

    def notify(self, *args: Any) -> None:
        with self._lock:
            items = list(self._items)
        for listener in items:
            try:
                listener(*args)
            except Exception:  # noqa: BLE001 - one listener must not stop the others
                log.exception("a %s listener failed", self._what)
