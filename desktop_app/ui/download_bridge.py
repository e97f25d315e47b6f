"""Hands the Qt-free DownloadManager's progress to the GUI thread.

The manager runs downloads on its own worker thread. This bridge lives in the
GUI thread and polls ``statuses()`` on a timer (every ``POLL_INTERVAL_MS``)
while anything is unfinished, emitting ``changed`` only when a snapshot
differs and ``model_installed`` once per job that reaches "done". Nothing
crosses threads per chunk and the GUI thread never waits on the network.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from ..core.downloads.manager import DownloadManager, DownloadRequest, DownloadStatus

if TYPE_CHECKING:
    from ..core.catalog import Catalog

log = logging.getLogger(__name__)

POLL_INTERVAL_MS = 200


class DownloadBridge(QObject):
    changed = Signal(list)           # list[DownloadStatus], a fresh snapshot
    model_installed = Signal(str)    # path of a finished download, once per job

    def __init__(self, manager: DownloadManager, parent: QObject | None = None, *,
                 interval_ms: int = POLL_INTERVAL_MS) -> None:
        super().__init__(parent)
        self.manager = manager
        self._snapshot: list[DownloadStatus] = []
        self._announced: set[int] = set()
        self._closed = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._poll)

    # -- commands (GUI thread) -------------------------------------------------
    def download(self, request: DownloadRequest) -> int:
        job_id = self.manager.enqueue(request)
        self._poll()
        self._timer.start()
        return job_id

    def cancel(self, job_id: int) -> None:
        self.manager.cancel(job_id)
        self._poll()

    def resume_pending(self, catalog: "Catalog | None" = None) -> list[int]:
        """Clean stale partial files, then resume what an earlier run left unfinished."""
        try:
            self.manager.clean_orphans()
            pending = self.manager.pending(catalog)
        except OSError as exc:
            log.warning("could not look for unfinished downloads: %s", exc)
            return []
        ids = [self.download(request) for request in pending]
        if ids:
            log.info("resuming %d unfinished download(s)", len(ids))
        return ids

    def shutdown(self) -> None:
        """Stop the timer and cancel every download (partial files are kept to resume)."""
        if self._closed:
            return
        self._closed = True
        self._timer.stop()
        self.manager.shutdown()

    # -- queries -------------------------------------------------------------
    def statuses(self) -> list[DownloadStatus]:
        """The last snapshot the bridge emitted."""
        return list(self._snapshot)

    def status(self, job_id: int) -> DownloadStatus | None:
        return next((s for s in self._snapshot if s.id == job_id), None)

    @property
    def active(self) -> bool:
        return any(not s.finished for s in self._snapshot)

    # -- polling ---------------------------------------------------------------
    @Slot()
    def _poll(self) -> None:
        snapshot = self.manager.statuses()
        if snapshot != self._snapshot:
            self._snapshot = snapshot
            self.changed.emit(list(snapshot))
            for status in snapshot:
                if status.state == "done" and status.path and status.id not in self._announced:
                    self._announced.add(status.id)
                    self.model_installed.emit(status.path)
        if not any(not s.finished for s in snapshot):
            self._timer.stop()
