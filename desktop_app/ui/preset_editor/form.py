"""The editing half of the preset editor: every field of one preset, in four tabs."""

from __future__ import annotations

import json
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractSpinBox, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout,
    QLabel, QLineEdit, QPlainTextEdit, QSpinBox,
    QTabWidget, QVBoxLayout, QWidget,
)

from ...core.catalog import Catalog
from ...core.json_files import MAX_DEPTH, nesting_depth
from ...core.presets import ICONS, Preset, Sampling
from .preferred_models import PreferredModelsEditor
from ..preset_icons import preset_icon

CONTEXT_MIN, CONTEXT_MAX = 128, 131_072
SEED_MAX = 2**32 - 2

# Preset fields (as PresetError names them) -> the label the form shows.
FIELD_LABELS = {
    "id": "Id", "name": "Name", "icon": "Icon", "description": "Description",
    "system_prompt": "System prompt", "input_template": "Input template",
    "sampling": "Sampling", "sampling.temperature": "Temperature", "sampling.top_p": "Top P",
    "sampling.top_k": "Top K", "sampling.min_p": "Min P",
    "sampling.repeat_penalty": "Repeat penalty", "sampling.seed": "Seed",
    "max_tokens": "Max tokens", "context_size": "Context size",
    "preferred_models": "Preferred models", "output": "Output",
    "output.json_schema": "Output JSON schema",
}
ICON_LABELS = {"chat": "Chat", "code": "Code", "summarize": "Summarize",
               "translate": "Translate", "email": "Email", "json": "JSON",
               "brainstorm": "Brainstorm", "custom": "Custom"}


class FormError(ValueError):
    """Something in the form cannot become a preset; ``str()`` is the sentence to show."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _named(widget: QWidget, name: str, description: str = "") -> QWidget:
    widget.setAccessibleName(name)
    if description:
        widget.setAccessibleDescription(description)
        widget.setToolTip(description)
    return widget


def _double(low: float, high: float, step: float, decimals: int, name: str,
            tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    _named(box, name, tip)
    return box


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: palette(placeholder-text);")
    return label


class PresetForm(QWidget):
    """Shows one preset; ``build()`` turns the (possibly edited) fields back into one."""

    changed = Signal()

    TABS = ("Prompt", "Sampling", "Models", "Output")

    def __init__(self, catalog: Catalog, installed_ids: Callable[[], set[str]],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._read_only = False
        self._loading = False

        self.name = _named(QLineEdit(), "Name", "The name shown in the task list")
        self.icon = _named(QComboBox(), "Icon")
        for icon in ICONS:
            self.icon.addItem(preset_icon(icon), ICON_LABELS.get(icon, icon.title()), icon)
        self.description = _named(QLineEdit(), "Description",
                                  "One line shown as the preset's tooltip")
        self.system_prompt = _named(QPlainTextEdit(), "System prompt",
                                    "Instructions the model receives before the conversation")
        self.system_prompt.setPlaceholderText("How the model should behave, e.g. "
                                              "\"You are a careful editor…\"")
        self.input_template = _named(QPlainTextEdit(), "Input template",
                                     "Wraps what the person types; {input} marks where it goes")
        self.input_template.setPlaceholderText(
            "{input} is replaced by what you type, e.g. \"Summarize this text:\\n\\n{input}\".\n"
            "Leave empty to send your text as typed.")

        self.temperature = _double(0.0, 5.0, 0.05, 2, "Temperature",
                                   "Lower is more focused and repeatable; higher is more varied")
        self.top_p = _double(0.0, 1.0, 0.05, 3, "Top P", "Keep the likeliest words up to this "
                             "total probability (1 = no limit)")
        self.top_k = _named(QSpinBox(), "Top K", "Keep only this many likeliest words "
                            "(0 = no limit)")
        self.top_k.setRange(0, 1000)
        self.min_p = _double(0.0, 1.0, 0.01, 3, "Min P", "Drop words much less likely than "
                             "the likeliest one (0 = off)")
        self.repeat_penalty = _double(0.5, 3.0, 0.05, 3, "Repeat penalty",
                                      "Above 1 discourages repeating words (1 = off)")
        self.seed_fixed = _named(QCheckBox("Fixed seed"), "Fixed seed",
                                 "Same seed and settings give the same answer")
        self.seed = _double(0, SEED_MAX, 1, 0, "Seed", "The random seed")
        self.max_tokens = _named(QSpinBox(), "Max tokens",
                                 "The longest answer, in tokens (about ¾ of a word each)")
        self.max_tokens.setRange(1, 131_072)
        self.context_app = _named(QCheckBox("Use the app's setting"),
                                  "Use the app's context size")
        self.context_size = _named(QSpinBox(), "Context size",
                                   "How many tokens of conversation the model keeps in view")
        self.context_size.setRange(CONTEXT_MIN, CONTEXT_MAX)
        self.context_size.setSingleStep(1024)

        self.models_editor = PreferredModelsEditor(catalog, installed_ids)
        self.models = self.models_editor.list

        self.json_schema = _named(QPlainTextEdit(), "Output JSON schema",
                                  "A JSON schema object the answer must follow")
        self.json_schema.setPlaceholderText(
            "Empty: the answer is free text.\nOtherwise a JSON schema object, e.g.\n"
            '{"type": "object", "properties": {"title": {"type": "string"}}}')
        self.json_schema.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.json_schema.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)

        self._lay_out()
        self._connect()

    # -- layout -------------------------------------------------------------------
    def _lay_out(self) -> None:
        head = QFormLayout()
        name_row = QHBoxLayout()
        name_row.addWidget(self.name, 1)
        icon_label = QLabel("&Icon")
        icon_label.setBuddy(self.icon)
        name_row.addWidget(icon_label)
        name_row.addWidget(self.icon)
        head.addRow(self._label("&Name", self.name), name_row)
        head.addRow(self._label("&Description", self.description), self.description)

        prompt = QWidget()
        prompt_layout = QVBoxLayout(prompt)
        prompt_layout.addWidget(self._label("&System prompt", self.system_prompt))
        prompt_layout.addWidget(self.system_prompt, 3)
        prompt_layout.addWidget(self._label("Input &template", self.input_template))
        prompt_layout.addWidget(self.input_template, 2)

        sampling = QWidget()
        form = QFormLayout(sampling)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        for spin in (self.temperature, self.top_p, self.top_k, self.min_p, self.repeat_penalty,
                     self.seed, self.max_tokens, self.context_size):
            spin.setMinimumWidth(120)
        form.addRow(self._label("&Temperature", self.temperature), self.temperature)
        form.addRow(self._label("Top &P", self.top_p), self.top_p)
        form.addRow(self._label("Top &K", self.top_k), self.top_k)
        form.addRow(self._label("&Min P", self.min_p), self.min_p)
        form.addRow(self._label("&Repeat penalty", self.repeat_penalty), self.repeat_penalty)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed_fixed)
        seed_row.addWidget(self.seed, 1)
        form.addRow(self._label("S&eed", self.seed_fixed), seed_row)
        form.addRow(self._label("Max t&okens", self.max_tokens), self.max_tokens)
        context_row = QHBoxLayout()
        context_row.addWidget(self.context_app)
        context_row.addWidget(self.context_size, 1)
        form.addRow(self._label("&Context size", self.context_app), context_row)
        form.addRow(_hint("Hover a setting for what it does. Leave them alone unless "
                          "answers are too random or too repetitive."))

        models = self.models_editor

        output = QWidget()
        output_layout = QVBoxLayout(output)
        output_layout.addWidget(self._label("Output &JSON schema (optional)", self.json_schema))
        output_layout.addWidget(self.json_schema, 1)
        output_layout.addWidget(_hint("With a schema the model can only answer with JSON that "
                                      "matches it. Leave empty for ordinary text."))

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Preset settings")
        for page, title in zip((prompt, sampling, models, output), self.TABS):
            self.tabs.addTab(page, title)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.tabs, 1)

    @staticmethod
    def _label(text: str, buddy: QWidget) -> QLabel:
        label = QLabel(text)
        label.setBuddy(buddy)
        return label

    def _connect(self) -> None:
        for edit in (self.name, self.description):
            edit.textChanged.connect(self._on_edit)
        for text in (self.system_prompt, self.input_template, self.json_schema):
            text.textChanged.connect(self._on_edit)
        for spin in (self.temperature, self.top_p, self.top_k, self.min_p,
                     self.repeat_penalty, self.seed, self.max_tokens, self.context_size):
            spin.valueChanged.connect(self._on_edit)
        self.icon.currentIndexChanged.connect(self._on_edit)
        self.seed_fixed.toggled.connect(self._on_edit)
        self.context_app.toggled.connect(self._on_edit)
        self.models_editor.changed.connect(self._on_edit)

    def _on_edit(self, *_args: Any) -> None:
        self._update_enabled()
        if not self._loading:
            self.changed.emit()

    def _update_enabled(self, *_args: Any) -> None:
        editable = not self._read_only
        self.seed.setEnabled(self.seed_fixed.isChecked())
        self.context_size.setEnabled(not self.context_app.isChecked())
        self.models_editor.set_read_only(not editable)

    # -- preset <-> fields -----------------------------------------------------------
    def load(self, preset: Preset, *, read_only: bool) -> None:
        self._loading = True
        try:
            self.name.setText(preset.name)
            self.icon.setCurrentIndex(max(0, self.icon.findData(preset.icon)))
            self.description.setText(preset.description)
            self.system_prompt.setPlainText(preset.system_prompt)
            self.input_template.setPlainText(preset.input_template or "")
            s = preset.sampling
            self.temperature.setValue(s.temperature)
            self.top_p.setValue(s.top_p)
            self.top_k.setValue(s.top_k)
            self.min_p.setValue(s.min_p)
            self.repeat_penalty.setValue(s.repeat_penalty)
            self.seed_fixed.setChecked(s.seed is not None)
            self.seed.setValue(s.seed if s.seed is not None else 0)
            self.max_tokens.setValue(preset.max_tokens)
            self.context_app.setChecked(preset.context_size is None)
            # a hand-written file may ask for more than the usual maximum: keep its value
            self.context_size.setMaximum(max(CONTEXT_MAX, preset.context_size or 0))
            self.context_size.setValue(preset.context_size or 4096)
            self.json_schema.setPlainText(
                json.dumps(preset.json_schema, indent=2, ensure_ascii=False)
                if preset.json_schema is not None else "")
            self.models_editor.load(preset.preferred_models, read_only=read_only)
            self.set_read_only(read_only)
        finally:
            self._loading = False
        self._update_enabled()

    def move_model(self, step: int) -> None:
        self.models_editor.move(step)

    def preferred_models(self) -> tuple[str, ...]:
        return self.models_editor.preferred()

    def set_read_only(self, read_only: bool) -> None:
        self._read_only = read_only
        for edit in (self.name, self.description):
            edit.setReadOnly(read_only)
        for text in (self.system_prompt, self.input_template, self.json_schema):
            text.setReadOnly(read_only)
        for spin in (self.temperature, self.top_p, self.top_k, self.min_p, self.repeat_penalty,
                     self.seed, self.max_tokens, self.context_size):
            spin.setReadOnly(read_only)
            spin.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.NoButtons if read_only
                                  else QAbstractSpinBox.ButtonSymbols.UpDownArrows)
        for widget in (self.icon, self.seed_fixed, self.context_app):
            widget.setEnabled(not read_only)
        self._update_enabled()

    def is_read_only(self) -> bool:
        return self._read_only

    def values(self) -> tuple:
        """Everything a save would keep, to tell whether anything was edited."""
        return (self.name.text(), self.icon.currentData(), self.description.text(),
                self.system_prompt.toPlainText(), self.input_template.toPlainText(),
                self.temperature.value(), self.top_p.value(), self.top_k.value(),
                self.min_p.value(), self.repeat_penalty.value(), self.seed_fixed.isChecked(),
                self.seed.value() if self.seed_fixed.isChecked() else None,
                self.max_tokens.value(), self.context_app.isChecked(),
                None if self.context_app.isChecked() else self.context_size.value(),
                self.preferred_models(), self.json_schema.toPlainText().strip())

    def build(self, base: Preset) -> Preset:
        """``base`` with the form's values (same id). Raises FormError; core checks the rest."""
        name = self.name.text().strip()
        if not name:
            raise FormError("Name is empty; give the preset a name.", "name")
        return base.with_changes(
            name=name, icon=self.icon.currentData() or "custom",
            description=self.description.text().strip(),
            system_prompt=self.system_prompt.toPlainText(),
            input_template=self.input_template.toPlainText() or None,
            sampling=Sampling(
                temperature=round(self.temperature.value(), 4), top_p=self.top_p.value(),
                top_k=self.top_k.value(), min_p=self.min_p.value(),
                repeat_penalty=self.repeat_penalty.value(),
                seed=int(self.seed.value()) if self.seed_fixed.isChecked() else None),
            max_tokens=self.max_tokens.value(),
            context_size=None if self.context_app.isChecked() else self.context_size.value(),
            preferred_models=self.preferred_models(),
            json_schema=self._schema())

    def _schema(self) -> dict[str, Any] | None:
        text = self.json_schema.toPlainText().strip()
        if not text:
            return None
        depth = nesting_depth(text)
        if depth > MAX_DEPTH:
            raise FormError(f"Output JSON schema is nested {depth:,} levels deep; Scalpel reads "
                            f"JSON nested at most {MAX_DEPTH} levels.", "output.json_schema")
        try:
            schema = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormError(f"Output JSON schema is not valid JSON (line {exc.lineno}, "
                            f"column {exc.colno}: {exc.msg}).", "output.json_schema") from None
        if not isinstance(schema, dict):
            raise FormError("Output JSON schema must be a JSON object, starting with { and "
                            "ending with }.", "output.json_schema")
        return schema

    # -- pointing at a field ---------------------------------------------------------
    def widget_for(self, field: str | None) -> QWidget | None:
        widgets = {
            "name": self.name, "icon": self.icon, "description": self.description,
            "system_prompt": self.system_prompt, "input_template": self.input_template,
            "sampling.temperature": self.temperature, "sampling.top_p": self.top_p,
            "sampling.top_k": self.top_k, "sampling.min_p": self.min_p,
            "sampling.repeat_penalty": self.repeat_penalty, "sampling.seed": self.seed,
            "max_tokens": self.max_tokens, "context_size": self.context_size,
            "preferred_models": self.models, "output.json_schema": self.json_schema,
            "output": self.json_schema,
        }
        return widgets.get(field or "")

    def focus_field(self, field: str | None) -> None:
        """Show the tab holding ``field`` and put the cursor in it."""
        widget = self.widget_for(field)
        if widget is None:
            return
        for index in range(self.tabs.count()):
            if self.tabs.widget(index).isAncestorOf(widget):
                self.tabs.setCurrentIndex(index)
        widget.setFocus(Qt.FocusReason.OtherFocusReason)
