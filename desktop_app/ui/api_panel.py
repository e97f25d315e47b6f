"""The window's switch for the local API: on/off, its address, the token, recent callers.

The server (core/api) runs on a thread of its own on the window's engine
(``window.bridge.engine``): the model loaded here is the model the API answers
with, and API requests wait behind an answer the window is writing. The API never
loads or switches models in the window (a request for another model gets 409).
Starlette and uvicorn are imported only when the API is turned on.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QEvent, QObject, Qt, Signal, Slot
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QMainWindow, QMenu,
                               QMessageBox, QPlainTextEdit, QVBoxLayout)

from ..core.errors import ScalpelError
from ..core.services import Services
from .event_kinds import is_close_of
from .plain_text import plain_label

log = logging.getLogger(__name__)


class ApiPanel(QObject):
    """Adds File > Local API and a status-bar label to ``window``; stops the API as it closes."""

    called = Signal(object)  # a security.Call, queued from the server's thread

    def __init__(self, window: QMainWindow, services: Services) -> None:
        super().__init__(window)
        self._window = window
        self._services = services
        self.server = None
        self._token = None
        self.menu = QMenu("Local &API", window)
        self._place_menu(window)
        self.switch = QAction("Local &API (OpenAI-compatible)", self, checkable=True)
        self.switch.toggled.connect(self._toggled)
        self.copy_address = QAction("Copy &address", self, enabled=False)
        self.copy_address.triggered.connect(lambda: self._copy(self.server.address, "Address"))
        self.copy_token = QAction("Copy &token", self)
        self.copy_token.triggered.connect(lambda: self._copy(self.token().value, "Token"))
        self.rotate = QAction("&New token (the old one stops working)…", self)
        self.rotate.triggered.connect(self.rotate_token)
        self.recent = QAction("&Recent calls…", self)
        self.recent.triggered.connect(self.show_recent)
        for action in (self.switch, self.copy_address, self.copy_token, self.rotate,
                       self.recent):
            self.menu.addAction(action)
        self.status = plain_label("")
        self.status.hide()
        window.statusBar().addPermanentWidget(self.status)
        self.called.connect(self._on_call, Qt.ConnectionType.QueuedConnection)
        if not services.policy.api_enabled:
            self.switch.setEnabled(False)
            self.switch.setToolTip("The local API is turned off by your organization.")
        window.installEventFilter(self)

    def _place_menu(self, window: QMainWindow) -> None:
        """File > Local API, above the separator before Quit (a menu of its own otherwise)."""
        bar_actions = window.menuBar().actions()
        file_menu = bar_actions[0].menu() if bar_actions else None
        if file_menu is None:
            window.menuBar().addMenu(self.menu)
            return
        separators = [a for a in file_menu.actions() if a.isSeparator()]
        if separators:
            file_menu.insertMenu(separators[-1], self.menu)
        else:
            file_menu.addMenu(self.menu)

    # -- the token ---------------------------------------------------------------------
    def token(self):
        if self._token is None:
            from ..core.api import ApiToken

            self._token = ApiToken(self._services.paths.config_dir)
        return self._token

    def rotate_token(self, *, confirm: bool = True) -> str | None:
        if confirm and QMessageBox.question(
                self._window, "New API token",
                "Programs using the current token will be refused until they get the new "
                "one. Make a new token?") != QMessageBox.StandardButton.Yes:
            return None
        try:
            value = self.token().rotate()
        except ScalpelError as exc:
            self._window.show_error(str(exc))
            return None
        self._window.statusBar().showMessage("A new API token was made; copy it into your "
                                             "programs (File > Local API > Copy token).", 8000)
        return value

    # -- on and off --------------------------------------------------------------------
    @Slot(bool)
    def _toggled(self, on: bool) -> None:
        if on and self.server is None:
            self.start()
        elif not on and self.server is not None:
            self.stop()

    def start(self) -> str | None:
        """Turn the API on; its address, or None (the error bar says why)."""
        try:
            from ..core.api import options_for, read_person_settings
            from ..core.api.engine_host import EngineHost
            from ..core.api.server import ApiServer

            options = options_for(self._services.policy,
                                  person=read_person_settings(self._services.paths.config_dir))
            host = EngineHost(self._services, self._window.bridge.engine, owns_engine=False)
            server = ApiServer(host, self.token(), options)
            server.subscribe(self.called.emit)
            address = server.start()
        except ScalpelError as exc:
            self._window.show_error(f"The local API could not start: {exc}")
            self.switch.setChecked(False)
            return None
        self.server = server
        moved = f" (port {options.port} was in use)" if server.port != options.port else ""
        self.status.setText(f"API: {address}")
        self.status.setToolTip("The local API answers with the model loaded here; "
                               "programs need the token (File > Local API > Copy token).")
        self.status.show()
        self.copy_address.setEnabled(True)
        self.switch.setChecked(True)
        self._window.statusBar().showMessage(f"Local API on at {address}{moved}.", 8000)
        return address

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.stop()
        self.status.hide()
        self.copy_address.setEnabled(False)
        self.switch.setChecked(False)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if is_close_of(watched, self._window, event):
            self.stop()  # before the window's engine is unloaded
        return False

    # -- who called --------------------------------------------------------------------
    @Slot(object)
    def _on_call(self, call) -> None:
        if self.server is None:
            return
        count = len(self.server.calls)
        self.status.setText(f"API: {self.server.address} · {count} recent call(s)")
        who = call.user_agent.split(" ")[0] or call.client
        self._window.statusBar().showMessage(
            f"API: {who} {call.method} {call.path} → {call.status}", 4000)

    def recent_text(self) -> str:
        if self.server is None or not self.server.calls:
            return "No calls yet."
        lines = []
        for call in reversed(self.server.calls):
            stamp = time.strftime("%H:%M:%S", time.localtime(call.at))
            model = f" [{call.model}]" if call.model else ""
            lines.append(f"{stamp}  {call.status}  {call.method} {call.path}{model}  "
                         f"{call.seconds:.1f} s  from {call.client}  {call.user_agent}")
        return "\n".join(lines)

    def show_recent(self) -> QDialog:
        dialog = QDialog(self._window)
        dialog.setWindowTitle("Local API: recent calls")
        view = QPlainTextEdit(readOnly=True)
        view.setPlainText(self.recent_text())  # user agents are untrusted: plain text only
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(QLabel("Newest first. Each program that called the API, and what "
                                "it was told."))
        layout.addWidget(view)
        layout.addWidget(buttons)
        dialog.resize(760, 380)
        dialog.show()
        return dialog

    def _copy(self, text: str, what: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self._window.statusBar().showMessage(f"{what} copied.", 3000)
