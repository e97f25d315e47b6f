"""One editable setting: its editor, the reason beside it, and whether IT locked it.

Every field checks its text as it is typed against the same ``Rule`` the settings file
is checked with (``core.settings.RULES``), so the window can never save a value the file
would refuse on the next start; the reason is shown beside the field and the dialog's
Save stays disabled while any field is wrong. A value the organization's policy locks is
shown greyed with "Set by your organization" and is never part of a save.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QLineEdit,
                               QVBoxLayout, QWidget)

from ...core.settings import Rule
from .theme import is_dark

LOCKED_TEXT = "Set by your organization"


def error_style() -> str:
    """Red that keeps a readable contrast on the theme in use (about 5:1 or better)."""
    return "color: #ff8a80;" if is_dark() else "color: #b71c1c;"


# When a changed value takes effect (shown after Save).
NOW = "now"
NEXT_LOAD = "when a model is next loaded"
NEXT_DOWNLOAD = "from the next download"


class Invalid(ValueError):
    """Typed text that is not a value for this field; str() is the reason shown."""


class SettingField(QObject):
    """Base: ``key``, the typed ``value()``, ``error`` (None when valid), ``locked``."""

    changed = Signal()
    null_words = ""  # how "null" reads in this field's reason ("", ", or empty")

    def __init__(self, key: str, label: str, rule: Rule, *, applies: str = NOW,
                 check: Callable[[Any], str | None] | None = None) -> None:
        super().__init__()
        self.key, self.label, self.rule, self.applies = key, label, rule, applies
        self._check = check
        self.locked = False
        self.initial: Any = None
        self.error: str | None = None
        self.widget = QWidget()
        self.reason = QLabel("")
        self.reason.setWordWrap(True)
        self.reason.setObjectName(f"reason_{key}")
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.hide()

    # -- subclasses ------------------------------------------------------------------
    def parse(self) -> Any:
        """The value the editor holds; raises Invalid with a reason."""
        raise NotImplementedError

    def show_value(self, value: Any) -> None:
        raise NotImplementedError

    def editors(self) -> list[QWidget]:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------
    def _layout(self, row: QWidget) -> None:
        layout = QVBoxLayout(self.widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(row)
        layout.addWidget(self.reason)
        layout.addWidget(self.note)
        for editor in self.editors():
            editor.setAccessibleName(self.label)

    def load(self, value: Any) -> None:
        self.initial = value
        self.show_value(value)
        self.revalidate()

    def set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def lock(self, value: Any, where: str | None = None) -> None:
        """Show ``value`` greyed: the policy sets it."""
        self.locked = True
        self.load(value)
        for editor in self.editors():
            editor.setEnabled(False)
            editor.setToolTip(f"{LOCKED_TEXT} ({where})" if where else LOCKED_TEXT)
        self.reason.setText(LOCKED_TEXT)
        self.reason.setStyleSheet("font-style: italic;")
        self.reason.show()
        self.error = None

    def revalidate(self) -> None:
        if self.locked:
            return
        try:
            value = self.parse()
            if not self.rule.accepts(value):
                wanted = self.rule.describe().replace(", or null", self.null_words)
                raise Invalid(f"Must be {wanted}.")
            if self._check is not None and (problem := self._check(value)):
                raise Invalid(problem)
        except Invalid as exc:
            self.error = str(exc)
            self.reason.setText(self.error)
            self.reason.setStyleSheet(error_style())
        else:
            self.error = None
            self.reason.setText("")
            self.reason.setStyleSheet("")
        self.reason.setVisible(bool(self.reason.text()))
        for editor in self.editors():
            editor.setAccessibleDescription(self.error or self.label)
        self.changed.emit()

    def value(self) -> Any:
        return self.parse()

    def is_changed(self) -> bool:
        if self.locked or self.error is not None:
            return False
        return self.parse() != self.initial


class TextField(SettingField):
    """Text; blank means None when the rule allows null."""

    null_words = ", or empty"

    def __init__(self, key: str, label: str, rule: Rule, *, secret: bool = False,
                 placeholder: str = "", **options: Any) -> None:
        super().__init__(key, label, rule, **options)
        self.edit = QLineEdit()
        self.edit.setObjectName(f"edit_{key}")
        self.edit.setPlaceholderText(placeholder)
        if secret:
            self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.textChanged.connect(lambda _text: self.revalidate())
        self._layout(self.edit)

    def editors(self) -> list[QWidget]:
        return [self.edit]

    def parse(self) -> Any:
        text = self.edit.text().strip()
        if not text and self.rule.optional:
            return None
        return text

    def show_value(self, value: Any) -> None:
        self.edit.setText("" if value is None else str(value))


class NumberField(SettingField):
    """A whole number or a decimal, typed as text so a wrong one can be explained."""

    def __init__(self, key: str, label: str, rule: Rule, **options: Any) -> None:
        super().__init__(key, label, rule, **options)
        self.edit = QLineEdit()
        self.edit.setObjectName(f"edit_{key}")
        self.edit.textChanged.connect(lambda _text: self.revalidate())
        self._layout(self.edit)

    def editors(self) -> list[QWidget]:
        return [self.edit]

    def parse(self) -> Any:
        return parse_number(self.edit.text(), self.rule)

    def show_value(self, value: Any) -> None:
        self.edit.setText("" if value is None else f"{value:g}" if isinstance(value, float)
                          else str(value))


def parse_number(text: str, rule: Rule) -> Any:
    text = text.strip().replace(",", "").replace("_", "")
    if not text:
        if rule.optional:
            return None
        raise Invalid(f"Type a value: {_describe(rule)}.")
    try:
        return int(text) if rule.kind is int else float(text)
    except ValueError:
        noun = "a whole number" if rule.kind is int else "a number"
        raise Invalid(f"“{text[:20]}” is not {noun}; must be {_describe(rule)}.") from None


def _describe(rule: Rule) -> str:
    if rule.meaning or (rule.low is not None and rule.high is not None):
        return rule.describe()
    return "a whole number" if rule.kind is int else "a number"


class AutoNumberField(SettingField):
    """"Automatic" or a number: ``auto_value`` (None, or "auto") stands for automatic."""

    def __init__(self, key: str, label: str, rule: Rule, *, auto_value: Any = None,
                 **options: Any) -> None:
        super().__init__(key, label, rule, **options)
        self.auto_value = auto_value
        self.auto = QCheckBox("Automatic")
        self.auto.setObjectName(f"auto_{key}")
        self.edit = QLineEdit()
        self.edit.setObjectName(f"edit_{key}")
        self.auto.toggled.connect(self._auto_toggled)
        self.edit.textChanged.connect(lambda _text: self.revalidate())
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.auto)
        layout.addWidget(self.edit, 1)
        self._layout(row)
        self.auto.setAccessibleName(f"{label}: automatic")

    def editors(self) -> list[QWidget]:
        return [self.auto, self.edit]

    def _auto_toggled(self, on: bool) -> None:
        self.edit.setEnabled(not on and not self.locked)
        self.revalidate()

    def parse(self) -> Any:
        if self.auto.isChecked():
            return self.auto_value
        kind = self.rule.kind if self.rule.kind in (int, float) else int
        number_rule = Rule(kind, self.rule.low, self.rule.high, meaning=self.rule.meaning)
        return parse_number(self.edit.text(), number_rule)

    def show_value(self, value: Any) -> None:
        automatic = value == self.auto_value
        self.auto.setChecked(automatic)
        self.edit.setText("" if automatic or value is None else str(value))
        self.edit.setEnabled(not automatic and not self.locked)


class ChoiceField(SettingField):
    """One of a few values, each with a label."""

    def __init__(self, key: str, label: str, rule: Rule,
                 choices: list[tuple[str, Any]], **options: Any) -> None:
        super().__init__(key, label, rule, **options)
        self.combo = QComboBox()
        self.combo.setObjectName(f"combo_{key}")
        for text, value in choices:
            self.combo.addItem(text, value)
        self.combo.currentIndexChanged.connect(lambda _i: self.revalidate())
        self._layout(self.combo)

    def editors(self) -> list[QWidget]:
        return [self.combo]

    def parse(self) -> Any:
        return self.combo.currentData()

    def show_value(self, value: Any) -> None:
        index = self.combo.findData(value)
        if index < 0:  # a value the list does not offer (set in the file): keep it visible
            self.combo.addItem(str(value), value)
            index = self.combo.count() - 1
        self.combo.setCurrentIndex(index)
