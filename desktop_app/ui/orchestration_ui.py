"""The window's side of orchestration: consent, suggestions, keep-local, origins.

- Ask mode's first escalation in a chat: ``ConsentDialog`` shows exactly what
  would be sent (every message) and to whom (the model and the endpoint); only
  Send sends.
- A weak local answer: the notice bar offers "Ask the bigger model".
- Chat ▸ Keep this chat on this computer: a checkable mark the session keeps in
  the chat store; a marked chat is never sent to another model.
- Chat ▸ Where answers came from…: answers per model, local or the organization's,
  over the last 7 and 30 days, and the tokens that left this computer.
"""

from __future__ import annotations

import html
import logging

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHeaderView, QLabel, QMenu,
                               QPlainTextEdit,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ..core.errors import ConsentNeededError, ScalpelError
from ..core.escalation.usage_log import UsageSummary
from ..core.session import EscalationSuggested

log = logging.getLogger(__name__)

KEEP_LOCAL = "&Keep this chat on this computer"


class ConsentDialog(QDialog):
    """What would leave this computer, and where to; Send or Cancel."""

    def __init__(self, needed: ConsentNeededError, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send to your organization's model?")
        self.setObjectName("consent-dialog")
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"<p>This chat would be sent to <b>{html.escape(needed.model)}</b> at "
            f"<b>{html.escape(needed.endpoint)}</b>, your organization's bigger model. "
            "Until now it stayed on this computer.</p><p>Exactly this will be sent:</p>")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.preview = QPlainTextEdit(needed.preview)
        self.preview.setReadOnly(True)
        self.preview.setAccessibleName("What will be sent")
        layout.addWidget(self.preview, 1)
        note = QLabel("You are asked once per chat. Chat ▸ Keep this chat on this computer "
                      "stops it for good.")
        note.setWordWrap(True)
        layout.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.send_button = buttons.addButton("Send", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setDefault(True)
        layout.addWidget(buttons)
        self.resize(640, 460)


class OriginsDialog(QDialog):
    """Where answers came from: local or the organization's model, per model."""

    def __init__(self, summaries: list[UsageSummary], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Where answers came from")
        self.setObjectName("origins-dialog")
        layout = QVBoxLayout(self)
        for summary in summaries:
            left = summary.tokens_left
            heading = QLabel(
                f"<b>Last {summary.days} days</b>: {summary.answers} answer"
                f"{'s' if summary.answers != 1 else ''}, {summary.remote_answers} from your "
                f"organization's model ({summary.remote_share:.0%}); "
                f"{left:,} token{'s' if left != 1 else ''} left this computer.")
            heading.setWordWrap(True)
            layout.addWidget(heading)
            table = QTableWidget(len(summary.rows), 5, self)
            table.setObjectName(f"origins-{summary.days}")
            table.setHorizontalHeaderLabels(["Model", "Where", "Answers", "Tokens sent",
                                             "Tokens received"])
            for row, usage in enumerate(summary.rows):
                where = "This computer" if usage.where == "local" else "Organization's server"
                for column, value in enumerate((usage.model, where, usage.answers,
                                                usage.tokens_sent, usage.tokens_received)):
                    table.setItem(row, column, QTableWidgetItem(str(value)))
            table.resizeColumnsToContents()
            header = table.horizontalHeader()
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
            table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
            table.verticalHeader().hide()
            layout.addWidget(table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(620, 480)


class OrchestrationUi(QObject):
    """Wires the window to the session's orchestration (installed by ``install``)."""
    _escalation_changed = Signal()

    def __init__(self, window, services) -> None:
        super().__init__(window)
        self._window, self._services = window, services
        self.chat = window.chat
        self.chat.presets_for_answer_as = services.presets.list
        self.chat._ask_consent = self.ask_consent
        window.bridge.escalation_suggested.connect(self._on_suggested)
        window.bridge.chat_shown.connect(lambda _event: self._sync_keep_local())
        self.keep_local_action = QAction(KEEP_LOCAL, window)
        self.keep_local_action.setCheckable(True)
        self.keep_local_action.setToolTip("A chat kept on this computer is never sent to "
                                          "another model, even when your organization "
                                          "allows it.")
        self.keep_local_action.toggled.connect(self._set_keep_local)
        self.origins_action = QAction("&Where answers came from…", window)
        self.origins_action.triggered.connect(self.show_origins)
        menu = _chat_menu(window)
        if menu is not None:
            menu.addSeparator()
            menu.addAction(self.keep_local_action)
            menu.addAction(self.origins_action)
        self.dialog: QDialog | None = None
        self._sync_keep_local()
        self._sync_privacy_note()
        unsubscribe = services.settings_service.subscribe(self._settings_changed)
        window.destroyed.connect(lambda *_: unsubscribe())
        self._escalation_changed.connect(self._apply_escalation)

    # -- a changed escalation setting -------------------------------------------------------
    def _settings_changed(self, names: frozenset[str]) -> None:
        if "escalation" in names:
            self._escalation_changed.emit()   # to the GUI thread, whichever thread saved

    def _apply_escalation(self) -> None:
        self.chat.session.set_escalation(self._services.escalation_port())
        self._sync_privacy_note()
        self.chat.render()   # "Ask the bigger model" appears or goes

    def _sync_privacy_note(self) -> None:
        """The empty chat's promise, as broad as the escalation set-up allows."""
        mode = self.chat.session.escalation_mode
        view = self._window.view
        if mode == "off":
            view.set_privacy_note(*type(view).privacy_note)
            return
        when = ("only when you ask, after showing you what would be sent" if mode == "ask"
                else "when you ask, or by itself when a local answer looks weak")
        view.set_privacy_note(
            "Ask anything. Answers are made on this computer.",
            f"Your organization's bigger model answers {when}. Chat ▸ Keep this chat on this "
            "computer keeps a chat here for good.")

    # -- consent --------------------------------------------------------------------
    def ask_consent(self, needed: ConsentNeededError) -> bool:
        dialog = ConsentDialog(needed, self._window)
        self.dialog = dialog
        try:
            return dialog.exec() == QDialog.DialogCode.Accepted
        finally:
            self.dialog = None
            dialog.deleteLater()

    # -- a weak answer -------------------------------------------------------------------
    def _on_suggested(self, event: EscalationSuggested) -> None:
        reasons = ", ".join(event.reasons) or "its own signals"
        self._window.notice.show_notice(
            f"This answer may be weak ({reasons}). Your organization's bigger model could "
            "answer it instead.",
            [("Ask the bigger model", lambda: self.chat.escalate(event.message_id)),
             ("Keep this answer", lambda: None)])

    # -- keep on this computer -----------------------------------------------------------------
    def _sync_keep_local(self) -> None:
        self.keep_local_action.blockSignals(True)
        self.keep_local_action.setChecked(self.chat.session.keep_local)
        self.keep_local_action.blockSignals(False)

    def _set_keep_local(self, keep: bool) -> None:
        try:
            self.chat.session.set_keep_local(keep)
        except ScalpelError as exc:
            self._window.show_error(str(exc))
            self._sync_keep_local()
            return
        self._window.statusBar().showMessage(
            "This chat stays on this computer." if keep else
            "This chat may be sent to your organization's model when you ask.", 4000)

    # -- origins -------------------------------------------------------------------------
    def show_origins(self) -> OriginsDialog:
        usage = self._services.usage_log
        dialog = OriginsDialog([usage.summary(7), usage.summary(30)], self._window)
        dialog.setModal(False)
        dialog.show()
        self.dialog = dialog
        return dialog


def _chat_menu(window) -> QMenu | None:
    for action in window.menuBar().actions():
        if action.text() == "&Chat":
            return action.menu()
    return None


def install_orchestration(window, services) -> OrchestrationUi:
    return OrchestrationUi(window, services)
