"""An event's type, read safely inside event filters.

PySide6 turns ``QEvent.type()`` into its ``QEvent.Type`` enum, and an event type the enum
does not list (Qt posts some internal ones) raises inside the filter; an exception in an
``eventFilter`` override is re-raised by every filter up the chain and ended the process
(a window on a read-only data folder crashed while starting). ``kind`` gives None instead.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent


def kind(event: QEvent) -> QEvent.Type | None:
    try:
        return event.type()
    except Exception:  # noqa: BLE001 - a type PySide's enum does not know: not ours
        return None


def is_close_of(watched, window, event: QEvent) -> bool:
    """``event`` is ``window`` being closed."""
    return watched is window and kind(event) == QEvent.Type.Close
