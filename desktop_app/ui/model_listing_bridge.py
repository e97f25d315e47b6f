"""Keeps the window's model lists fresh without walking folders on the GUI thread.

``refresh()`` runs ``ModelListing.refresh()`` on a Python worker thread (one at a
time; a refresh asked for while one runs runs once more after it). Whatever
changes the listing (this worker, the download worker, an import, a deletion on
the GUI thread) reaches ``changed``, always emitted on the GUI thread: queued
from other threads, at once from the GUI thread itself.
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Signal, Slot

from ..core.model_listing import ModelListing

log = logging.getLogger(__name__)


class ModelListingBridge(QObject):
    changed = Signal()
    _listing_changed = Signal()   # from any thread; relayed as ``changed`` on the GUI thread

    def __init__(self, listing: ModelListing, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.listing = listing
        self._lock = threading.Lock()
        self._running = False
        self._again = False
        self._idle = threading.Event()
        self._idle.set()
        self._listing_changed.connect(self._relay)  # queued when emitted off the GUI thread
        self._unsubscribe = listing.subscribe(self._on_listing_changed)

    def refresh(self) -> None:
        """List the models again on the worker thread; ``changed`` follows if they differ."""
        with self._lock:
            if self._running:
                self._again = True
                return
            self._running = True
            self._idle.clear()
        threading.Thread(target=self._run, name="scalpel-model-listing", daemon=True).start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no refresh is running (the window's first listing); False on timeout."""
        return self._idle.wait(timeout)

    def shutdown(self) -> None:
        """Stop hearing about the listing (the window is closing)."""
        self._unsubscribe()

    def _run(self) -> None:
        while True:
            try:
                self.listing.refresh()
            except Exception:  # noqa: BLE001 - the worker reports, never dies silently
                log.exception("listing the models failed")
            with self._lock:
                if not self._again:
                    self._running = False
                    self._idle.set()
                    return
                self._again = False

    def _on_listing_changed(self) -> None:
        try:
            self._listing_changed.emit()
        except RuntimeError:  # the window (and this object) are already gone
            self._unsubscribe()

    @Slot()
    def _relay(self) -> None:
        self.changed.emit()
