"""Privacy ▸ Escalation: when a question may go to the organization's bigger model.

The section edits the ``escalation`` settings object (core/escalation/config.py). Each
field is checked as it is typed by ``EscalationConfig.from_dict`` on that one key, so the
reason shown is the one the settings file would give; the whole object is checked by the
``escalation`` rule in ``core.settings.RULES`` when it is saved. Keys this section does
not show (``api_key_file``, ``thresholds``) are kept as they are. When the policy sets
escalation, every field is greyed with "Set by your organization".
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QListWidget, QListWidgetItem

from ...core.escalation.config import (EscalationConfig, EscalationConfigError,
                                       policy_escalation)
from ...core.settings import Rule
from .fields import NOW, ChoiceField, NumberField, TextField

MODE_LABELS = (("Off: questions never leave this computer", "off"),
               ("Ask me each time an answer looks weak", "ask"),
               ("Automatic, within the share below", "auto"))
_ANY = Rule(object, optional=True)


def _key_problem(key: str, value: Any) -> str | None:
    try:
        EscalationConfig.from_dict({key: value})
    except EscalationConfigError as exc:
        text = str(exc)
        return text[0].upper() + text[1:] + "."
    return None


class EscalationSection:
    """The escalation fields on ``page``; ``change()`` gives the object to save, if any."""

    KEY = "escalation"

    def __init__(self, page, form: QFormLayout) -> None:
        self.page = page
        services = page.services
        imposed = policy_escalation(services.policy)
        own = getattr(services.settings, "escalation", None)
        if own is None:
            own = services.settings.extra.get("escalation")
        self.current: dict[str, Any] = (imposed.to_dict() if imposed is not None else
                                        dict(own) if isinstance(own, dict) else
                                        EscalationConfig().to_dict())
        self.locked = imposed is not None or "escalation" in services.settings_store.locked
        where = (str(services.policy.file) if services.policy.file else "") if self.locked \
            else None
        value = self.current
        self.mode = page.add(form, ChoiceField(
            "escalation.mode", "Escalation", Rule(str), list(MODE_LABELS), applies=NOW),
            value.get("mode", "off"), locked=where)
        self.endpoint = page.add(form, TextField(
            "escalation.endpoint", "Server address", _ANY, applies=NOW,
            placeholder="https://llm.example/v1 (OpenAI-compatible)",
            check=lambda v: _key_problem("endpoint", v)), value.get("endpoint"), locked=where)
        self.model = page.add(form, TextField(
            "escalation.model", "Model", _ANY, applies=NOW, placeholder="the model's id",
            check=lambda v: _key_problem("model", v)), value.get("model"), locked=where)
        self.key_env = page.add(form, TextField(
            "escalation.api_key_env", "API key variable", _ANY, applies=NOW,
            placeholder="e.g. SCALPEL_LLM_KEY (the key itself is never stored here)",
            check=lambda v: _key_problem("api_key_env", v)), value.get("api_key_env"),
            locked=where)
        budget = value.get("share_budget", 0.2)
        self.budget = page.add(form, NumberField(
            "escalation.share_budget", "Share budget (%)",
            Rule(float, 0, 100, meaning="a percentage from 0 to 100"), applies=NOW),
            round(budget * 100, 2), locked=where)
        self.budget.set_note("Automatic escalation sends at most this share of your "
                             "questions (over 30 days).")
        self.tasks = QListWidget()
        self.tasks.setAccessibleName("Tasks that may escalate")
        allowed = value.get("tasks")
        for preset in services.presets.list():
            item = QListWidgetItem(preset.name)
            item.setData(Qt.ItemDataRole.UserRole, preset.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if allowed is None or preset.id in allowed
                               else Qt.CheckState.Unchecked)
            self.tasks.addItem(item)
        self.tasks.setMaximumHeight(140)
        self.tasks.setEnabled(not self.locked)
        self.tasks.itemChanged.connect(lambda _item: page.edited.emit())
        form.addRow("Tasks that may escalate:", self.tasks)
        self.fields = [self.mode, self.endpoint, self.model, self.key_env, self.budget]

    def _tasks(self) -> list[str] | None:
        ids = [self.tasks.item(i).data(Qt.ItemDataRole.UserRole)
               for i in range(self.tasks.count())]
        checked = [pid for i, pid in enumerate(ids)
                   if self.tasks.item(i).checkState() == Qt.CheckState.Checked]
        return None if len(checked) == len(ids) else checked

    def value(self) -> dict[str, Any]:
        return {**self.current, "mode": self.mode.value(), "endpoint": self.endpoint.value(),
                "model": self.model.value(), "api_key_env": self.key_env.value(),
                "share_budget": round(self.budget.value() / 100, 6), "tasks": self._tasks()}

    def problem(self) -> str | None:
        """Why the whole object would be refused (e.g. Automatic with no server)."""
        if self.locked or any(f.error for f in self.fields):
            return None
        try:
            EscalationConfig.from_dict(self.value())
        except EscalationConfigError as exc:
            return str(exc)
        return None

    def change(self) -> dict[str, Any] | None:
        if self.locked or any(f.error for f in self.fields):
            return None
        value = self.value()
        return value if value != self.current else None

    def saved(self) -> None:
        if not self.locked:
            self.current = self.value()
            for f in self.fields:
                f.initial = f.value()
