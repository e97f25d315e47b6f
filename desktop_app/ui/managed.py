"""What the organization manages, visible in the window.

A badge in the status bar ("Managed by your organization") whose tooltip
sums the policy up and whose click opens the full policy with the source of
each value, as ``scalpel policy show`` prints it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QMouseEvent
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from ..core.policy import Policy, format_policy
from .plain_text import plain_tip

BADGE_TEXT = "Managed by your organization"


def policy_summary(policy: Policy) -> str:
    """Short sentences for the tooltip: what the person cannot do, and why."""
    lines = [f"Settings from {policy.file}"]
    if policy.problems:
        lines.append("The policy file has problems, so the strictest reading applies.")
    if policy.allowed_models is not None:
        lines.append(f"Only {len(policy.allowed_models)} approved model(s) can be used."
                     if policy.allowed_models else "No model is approved.")
    if not policy.downloads_allowed:
        lines.append("Downloads are turned off.")
    elif policy.hub_endpoint:
        lines.append(f"Downloads come from {policy.hub_endpoint}.")
    if policy.model_dirs:
        lines.append("Models are provided from: " + ", ".join(map(str, policy.model_dirs)))
    if policy.locked_settings:
        lines.append("Locked: " + ", ".join(f"{k} = {v}" for k, v in
                                            policy.locked_settings.items()))
    lines.append("Click for details.")
    return "\n".join(lines)


class ManagedBadge(QLabel):
    def __init__(self, policy: Policy, unresolved: list[str], parent: QWidget | None = None
                 ) -> None:
        super().__init__(BADGE_TEXT, parent)
        self.setObjectName("managedBadge")
        self.policy, self.unresolved = policy, unresolved
        self.setToolTip(plain_tip(policy_summary(policy)))  # paths and values from a file
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAccessibleName(BADGE_TEXT)
        self.setVisible(policy.managed)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt naming
        show_policy_dialog(self.window(), self.policy, self.unresolved)


def show_policy_dialog(parent: QWidget, policy: Policy, unresolved: list[str]) -> QDialog:
    dialog = QDialog(parent)
    dialog.setWindowTitle("Your organization's policy")
    text = QPlainTextEdit(format_policy(policy, str(policy.file or ""), unresolved))
    text.setReadOnly(True)
    text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    intro = QLabel("These settings are set by your organization and cannot be changed here. "
                   "Ask your IT department if something you need is not allowed.")
    intro.setWordWrap(True)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(intro)
    layout.addWidget(text, 1)
    layout.addWidget(buttons)
    dialog.resize(760, 360)
    dialog.setObjectName("policyDialog")
    dialog.show()
    return dialog
