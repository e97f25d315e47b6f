"""Privacy: what Scalpel stores where, clearing the chat history, the local API and
escalation (the two ways a question can leave the window)."""

from __future__ import annotations

import sys
from typing import Any, Callable

from PySide6.QtWidgets import QCheckBox, QMessageBox, QPushButton

from ...core.errors import ScalpelError
from ...core.logs import log_file
from .escalation_section import EscalationSection
from .fields import LOCKED_TEXT, NOW
from .page import SettingsPage, info

# The window hands the session a new escalation port when the setting changes
# (ui/orchestration_ui.py), so it applies from the next answer.
ESCALATION_APPLIES = NOW


def _documents_index(paths) -> str | None:
    """The documents index, named without importing the documents package (half a second
    of imports on the GUI thread): its module's name if loaded, else a file that exists."""
    module = sys.modules.get("desktop_app.core.documents.index_store")
    name = getattr(module, "FILE_NAME", None)
    found = [paths.data_dir / name] if name else sorted(paths.data_dir.glob("documents*.sqlite3"))
    if not found:
        return None
    return f"Documents index (text of the files you added): {found[0]}"


def stored_where(services) -> str:
    paths = services.paths
    usage = getattr(paths, "usage_log_file", None)
    optional = [line for line in (
        _documents_index(paths),
        f"Where each answer came from (this computer or escalation): {usage}" if usage
        else None) if line]
    return "\n".join((
        f"Chats: {paths.data_dir / 'chats.sqlite3'} (with its -wal and -shm files)",
        *optional,
        f"Settings and your presets: {paths.settings_file}, {paths.config_dir / 'presets'}",
        f"Local API token: {paths.config_dir / 'api-token'}",
        f"Models: {paths.models_dir}; unfinished downloads: {paths.data_dir / 'downloads'}",
        f"Log (events and errors, for problem reports): {log_file(paths)}",
        f"Cache (model checksums): {paths.cache_dir}",
        "Nothing leaves this computer unless you download a model, a program calls the "
        "local API you turned on, or escalation sends a question to your organization's "
        "model."))


class PrivacyPage(SettingsPage):
    title = "Privacy"

    def __init__(self, services, *, confirm: Callable[[str], bool] | None = None,
                 **options) -> None:
        super().__init__(services, **options)
        self._confirm = confirm or self._ask
        where = self.section("What is stored where")
        stored = info(stored_where(services))
        stored.setObjectName("stored_where")
        where.addRow(stored)
        history = self.section("Chat history")
        self.clear_button = QPushButton("Delete all chats…")
        self.clear_button.setAccessibleName("Delete all chats")
        self.clear_button.clicked.connect(lambda: self.clear_history())
        history.addRow(self.clear_button)
        self.history_result = info("")
        history.addRow(self.history_result)
        self._api_section()
        form = self.section("Escalation to your organization's model",
                            "When a local answer looks weak, a question can go to a bigger "
                            "model your organization runs. The API key is read from an "
                            "environment variable; it is never stored by Scalpel.")
        self.escalation = EscalationSection(self, form)
        self.finish()

    # -- the local API -------------------------------------------------------------------
    def _api_panel(self):
        return getattr(self.window, "api_panel", None)

    def _api_section(self) -> None:
        form = self.section("Local API",
                            "An OpenAI-compatible API on this computer that answers with the "
                            "model loaded here; programs need its token. It is off each "
                            "time Scalpel starts.")
        panel = self._api_panel()
        self.api = QCheckBox("Local API on")
        self.api.setAccessibleName("Local API on")
        self.api.setChecked(bool(panel and panel.server is not None))
        self.api.toggled.connect(lambda _on: self.edited.emit())
        form.addRow(self.api)
        if not self.services.policy.api_enabled:
            self.api.setEnabled(False)
            self.api.setText(f"Local API off: {LOCKED_TEXT}")
        elif panel is None:
            self.api.setEnabled(False)
            form.addRow(info("Only available from the main window (File ▸ Local API)."))

    # -- saving --------------------------------------------------------------------------
    def errors(self) -> list[str]:
        problem = self.escalation.problem()
        return super().errors() + ([problem] if problem else [])

    def changes(self) -> dict[str, Any]:
        changes = {k: v for k, v in super().changes().items() if "." not in k}
        if (escalation := self.escalation.change()) is not None:
            changes["escalation"] = escalation
        return changes

    def applies(self) -> dict[str, str]:
        return {"escalation": ESCALATION_APPLIES}

    def saved(self, names: frozenset[str]) -> None:
        if "escalation" in names:
            self.escalation.saved()
        super().saved(names)

    def has_actions(self) -> bool:
        panel = self._api_panel()
        return bool(panel and self.api.isEnabled()
                    and self.api.isChecked() != (panel.server is not None))

    def actions(self) -> list[str]:
        panel = self._api_panel()
        if not self.has_actions():
            return []
        if self.api.isChecked():
            address = panel.start()
            self.api.setChecked(address is not None)
            return [f"the local API is on at {address}" if address else
                    "the local API could not start (the red bar says why)"]
        panel.stop()
        return ["the local API is off"]

    # -- clearing the history ------------------------------------------------------------
    def _ask(self, question: str) -> bool:
        return QMessageBox.question(self, "Delete all chats", question) \
            == QMessageBox.StandardButton.Yes

    def clear_history(self) -> int | None:
        """Delete every chat after asking; the number deleted, None if nothing was done."""
        chat = getattr(self.window, "chat", None)
        if chat is not None and chat.answering:
            self.history_result.setText("Stop the answer being written first.")
            return None
        store = self.services.chat_store
        chats = store.list_chats()
        if not chats:
            self.history_result.setText("There are no chats to delete.")
            return 0
        if not self._confirm(f"Delete all {len(chats)} chats? This cannot be undone; "
                             "export or back them up first (Chat menu) to keep a copy."):
            return None
        try:
            for summary in chats:
                store.delete_chat(summary.id)
            self.services.update_settings(last_chat_id=None)
        except (ScalpelError, OSError) as exc:
            self.history_result.setText(f"Not every chat could be deleted: {exc}")
            return None
        panel = getattr(self.window, "panel", None)
        if panel is not None:
            panel.new_chat()
        self.history_result.setText(f"{len(chats)} chats deleted.")
        return len(chats)
