"""Small pieces the model manager's tabs share: formatting and off-thread calls."""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QAbstractItemView, QTableWidget

from ...core.downloads.manager import DownloadStatus
from ...core.errors import ScalpelError, format_size

log = logging.getLogger(__name__)


def format_params(n: int) -> str:
    if n >= 1_000_000_000:
        return f"{n / 1e9:.1f}B".replace(".0B", "B")
    if n >= 1_000_000:
        return f"{n / 1e6:.0f}M"
    return f"{n:,}"


def format_speed(bps: float) -> str:
    return f"{format_size(int(bps))}/s"


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s left"
    if seconds < 3600:
        return f"{round(seconds / 60)} min left"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min left"


_STATE_TEXT = {
    "queued": "Waiting to start…",
    "resolving": "Contacting the hub…",
    "checking": "Checking the part already downloaded…",
    "verifying": "Verifying the file…",
}


def progress_text(status: DownloadStatus) -> str:
    """One line under a download's progress bar."""
    resumed = (f" · resumed from {format_size(status.resumed_from)}"
               if status.resumed_from else "")
    if status.state == "done":
        return f"Installed · {format_size(status.total or status.downloaded)}"
    if status.state == "cancelled":
        return "Cancelled"
    if status.state == "failed":
        return f"Failed: {status.error or 'unknown error'}"
    if status.state == "downloading":
        parts = [f"{format_size(status.downloaded)} of {format_size(status.total)}"
                 if status.total else format_size(status.downloaded)]
        if status.speed_bps > 0:
            parts.append(format_speed(status.speed_bps))
        if eta := format_eta(status.eta_s):
            parts.append(eta)
        return " · ".join(parts) + resumed
    return _STATE_TEXT.get(status.state, status.state) + resumed


def progress_value(status: DownloadStatus) -> int | None:
    """0..1000 for the bar, or None while the size is not known yet."""
    if status.state == "done":
        return 1000
    if not status.total:
        return None
    return max(0, min(1000, status.downloaded * 1000 // status.total))


class BackgroundCall(QObject):
    """Run ``fn`` on a Python thread; deliver its result or error message in the GUI thread.

    Connect only slots of GUI-thread QObjects: the signals are emitted from the
    worker thread, so Qt queues them to the receivers' thread.
    """

    succeeded = Signal(object)
    failed = Signal(str)
    _running: set["BackgroundCall"] = set()

    @classmethod
    def start(cls, fn: Callable[[], Any], on_success: Callable[[Any], None],
              on_failure: Callable[[str], None]) -> "BackgroundCall":
        call = cls()
        call.succeeded.connect(on_success)
        call.failed.connect(on_failure)
        call.succeeded.connect(call._finish)
        call.failed.connect(call._finish)
        cls._running.add(call)
        threading.Thread(target=call._run, args=(fn,), name="scalpel-ui-task",
                         daemon=True).start()
        return call

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            result = fn()
        except ScalpelError as exc:
            self.failed.emit(str(exc))
        except OSError as exc:
            self.failed.emit(str(ScalpelError(f"{exc.strerror or exc}")))
        except Exception as exc:  # noqa: BLE001 - report, never kill the thread silently
            log.exception("background task failed")
            self.failed.emit(f"Something went wrong ({type(exc).__name__}); "
                             "details are in the log.")
        else:
            self.succeeded.emit(result)

    @Slot()
    def _finish(self, *_args) -> None:
        BackgroundCall._running.discard(self)
        self.deleteLater()


def file_size(path) -> int:
    """Bytes in the file at ``path``, 0 when it cannot be read."""
    from pathlib import Path

    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def make_readonly_table(columns: list[str] | tuple[str, ...], *, object_name: str,
                        accessible_name: str) -> QTableWidget:
    """A row-selecting, non-editable table, as both manager tabs use."""
    table = QTableWidget(0, len(columns))
    table.setObjectName(object_name)
    table.setAccessibleName(accessible_name)
    table.setHorizontalHeaderLabels(list(columns))
    table.verticalHeader().setVisible(False)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setWordWrap(False)
    return table
