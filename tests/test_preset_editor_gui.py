"""The preset editor, driven like a person would, on the shipped presets (no model loaded)."""

from __future__ import annotations

import json

import pytest
from gui_helpers import set_field
from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QWidget

from desktop_app.core.catalog import load_catalog
from desktop_app.core.preset_store import BUILTIN_ORDER, PresetStore
from desktop_app.core.presets import ICONS
from desktop_app.core.resources import resource_path
from desktop_app.ui.preset_editor import READ_ONLY_NOTE, PresetEditorDialog
from desktop_app.ui.preset_icons import preset_icon

SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}}


@pytest.fixture
def user_dir(tmp_path):
    return tmp_path / "presets"


@pytest.fixture
def store(user_dir):
    return PresetStore(builtin_dir=resource_path("presets"), user_dir=user_dir)


@pytest.fixture
def catalog():
    return load_catalog()


@pytest.fixture
def open_editor(qtbot, store, catalog):
    def open_(**kwargs):
        dialog = PresetEditorDialog(kwargs.pop("store", store), catalog, **kwargs)
        qtbot.addWidget(dialog)
        dialog.show()
        return dialog
    return open_


@pytest.fixture
def editor(open_editor):
    return open_editor()


@pytest.fixture
def confirm(monkeypatch):
    """Answer every confirmation with the next value (default yes); records the questions."""
    asked: list[str] = []
    answers: list[bool] = []

    def fake(self, title, text):
        asked.append(text)
        return answers.pop(0) if answers else True

    monkeypatch.setattr(PresetEditorDialog, "_confirm", fake)
    return asked, answers


def list_ids(dialog) -> list[str]:
    return [dialog.preset_list.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(dialog.preset_list.count())]


def test_every_preset_icon_renders_and_unknown_names_fall_back(qapp):
    for name in ICONS:
        assert resource_path("icons", "presets", f"{name}.svg").is_file()
        assert not preset_icon(name).pixmap(24, 24).isNull(), name
    assert preset_icon("no-such-icon") is preset_icon("custom")


def test_list_shows_the_eight_built_ins_read_only(editor):
    assert list_ids(editor) == list(BUILTIN_ORDER)
    assert editor.preset_list.item(0).text() == "Auto  (built-in)"
    assert editor.preset_list.item(2).text() == "Code assistant  (built-in)"
    assert editor.preset_list.item(2).toolTip() == "Write, explain and fix code."
    assert editor.select_preset("code") and editor.current_id() == "code"
    assert editor.is_read_only()
    assert editor.read_only_note.isVisible() and editor.read_only_note.text() == READ_ONLY_NOTE
    assert editor.form.system_prompt.isReadOnly() and editor.form.name.isReadOnly()
    assert not editor.form.icon.isEnabled()
    assert not editor.save_button.isEnabled() and not editor.delete_button.isEnabled()
    assert editor.duplicate_button.isEnabled()
    with pytest.raises(RuntimeError):
        set_field(editor, "name", "Mine")
    assert editor.save() is None and "read-only" in editor.error_text()
    assert not editor.isModal() and editor.error_text()


def test_every_input_has_an_accessible_name(editor):
    form = editor.form
    for widget in (form.name, form.icon, form.description, form.system_prompt,
                   form.input_template, form.temperature, form.top_p, form.top_k, form.min_p,
                   form.repeat_penalty, form.seed_fixed, form.seed, form.max_tokens,
                   form.context_app, form.context_size, form.models, form.json_schema,
                   editor.preset_list, editor.save_button, editor.delete_button):
        assert widget.accessibleName(), widget


def test_duplicate_edit_and_save_a_preset(qtbot, editor, store, user_dir):
    editor.select_preset("code")
    copy = editor.duplicate_current()
    assert copy is not None and copy.id == "code-assistant-copy"
    assert editor.current_id() == copy.id and not editor.is_read_only()
    assert not editor.read_only_note.isVisible() and editor.delete_button.isEnabled()
    path = user_dir / f"{copy.id}.json"
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk["system_prompt"] == store.get("code").system_prompt
    assert on_disk["preferred_models"] == list(store.get("code").preferred_models)
    assert editor.form.preferred_models() == store.get("code").preferred_models

    set_field(editor, "system_prompt", "Answer in Rust only.")
    set_field(editor, "temperature", 0.45)
    assert editor.is_dirty() and editor.save_button.isEnabled()
    with qtbot.waitSignal(editor.presets_changed, timeout=1000):
        saved = editor.save()
    assert saved is not None and not editor.is_dirty() and editor.error_text() == ""
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk["system_prompt"] == "Answer in Rust only."
    assert on_disk["sampling"]["temperature"] == pytest.approx(0.45)
    assert on_disk["sampling"]["top_p"] == pytest.approx(0.9)  # untouched fields kept
    assert store.get(copy.id).system_prompt == "Answer in Rust only."
    assert PresetStore(builtin_dir=resource_path("presets"),
                       user_dir=user_dir).get(copy.id).sampling.temperature == pytest.approx(0.45)


def test_invalid_schema_is_refused_and_nothing_typed_is_lost(editor, user_dir):
    copy = editor.new_preset()
    assert copy is not None and copy.name == "New preset" and editor.current_id() == copy.id
    path = user_dir / f"{copy.id}.json"
    before = path.read_text(encoding="utf-8")
    set_field(editor, "system_prompt", "Keep this text.")
    bad = '{"type": "object",\n  "properties": {"a": }}'
    set_field(editor, "json_schema", bad)
    assert editor.save() is None
    assert "Output JSON schema is not valid JSON (line 2" in editor.error_text()
    assert path.read_text(encoding="utf-8") == before
    assert editor.form.json_schema.toPlainText() == bad
    assert editor.form.system_prompt.toPlainText() == "Keep this text."
    assert editor.form.tabs.tabText(editor.form.tabs.currentIndex()) == "Output"

    set_field(editor, "json_schema", "[1, 2]")
    assert editor.save() is None and "must be a JSON object" in editor.error_text()
    set_field(editor, "json_schema", "{}")
    assert editor.save() is None and "Output JSON schema" in editor.error_text()
    assert path.read_text(encoding="utf-8") == before

    set_field(editor, "json_schema", json.dumps(SCHEMA))
    saved = editor.save()
    assert saved is not None and saved.json_schema == SCHEMA
    assert json.loads(saved.generation_params().json_schema) == SCHEMA
    assert editor.error_text() == ""

    set_field(editor, "json_schema", '{"type": "object", "properties": {"n": {"type": "integr"}}}')
    assert editor.save() is None  # checked in Python: the window never loads llama.cpp
    assert "unknown type 'integr'" in editor.error_text()
    set_field(editor, "json_schema", json.dumps(SCHEMA))
    assert editor.save() is not None  # nothing left unsaved for the window to ask about
    assert json.loads(path.read_text(encoding="utf-8"))["output"] == {"json_schema": SCHEMA}


def test_core_validation_errors_name_the_field(editor, user_dir):
    copy = editor.new_preset()
    set_field(editor, "input_template", "no placeholder here")
    assert editor.save() is None
    assert editor.error_text().startswith("Input template: must contain {input}")
    assert editor.form.input_template.toPlainText() == "no placeholder here"
    set_field(editor, "name", "   ")
    assert editor.save() is None and "Name" in editor.error_text()
    set_field(editor, "name", "Tidy")
    set_field(editor, "input_template", "Tidy this:\n{input}")
    set_field(editor, "icon", "email")
    set_field(editor, "max_tokens", 300)
    saved = editor.save()
    assert saved is not None and saved.name == "Tidy" and saved.icon == "email"
    assert saved.input_template == "Tidy this:\n{input}" and saved.max_tokens == 300
    assert saved.id == copy.id  # renaming keeps the file
    assert editor.preset_list.currentItem().text() == "Tidy"


def test_models_keep_unknown_ids_and_follow_the_order(editor, store, catalog):
    preset = store.save(store.get("code").with_changes(
        id="mine", builtin=False, path=None,
        preferred_models=("/models/local.gguf", "qwen2.5-coder-1.5b-instruct")))
    editor._fill_list("mine")
    form = editor.form
    assert form.preferred_models() == preset.preferred_models
    assert "not in the catalog" in form.models.item(0).text()
    assert form.models.count() == len([e for e in catalog if not e.is_embedding]) + 1
    form.models.setCurrentRow(1)
    form.move_model(-1)
    assert form.preferred_models() == ("qwen2.5-coder-1.5b-instruct", "/models/local.gguf")
    form.models.item(2).setCheckState(Qt.CheckState.Checked)
    third = form.models.item(2).data(Qt.ItemDataRole.UserRole)
    saved = editor.save()
    assert saved.preferred_models == ("qwen2.5-coder-1.5b-instruct", "/models/local.gguf", third)


def test_installed_models_are_marked(open_editor):
    dialog = open_editor(installed_ids=lambda: {"smollm2-135m-instruct"}, select="json")
    assert dialog.current_id() == "json"
    texts = [dialog.form.models.item(i).text() for i in range(dialog.form.models.count())]
    installed = [t for t in texts if t.endswith("· installed")]
    assert len(installed) == 1 and "SmolLM2" in installed[0]


def test_delete_asks_and_removes_the_file(qtbot, editor, user_dir, confirm):
    asked, answers = confirm
    editor.select_preset("email")
    copy = editor.duplicate_current()
    path = user_dir / f"{copy.id}.json"
    answers.append(False)
    assert not editor.delete_current() and path.exists()
    with qtbot.waitSignal(editor.presets_changed, timeout=1000):
        assert editor.delete_current()
    assert not path.exists() and copy.id not in list_ids(editor)
    assert len(asked) == 2 and copy.name in asked[-1]
    assert editor.current_id() is not None


def test_switching_with_unsaved_edits_asks_first(editor, confirm):
    asked, answers = confirm
    copy = editor.new_preset()
    set_field(editor, "description", "half-typed")
    answers.append(False)
    assert not editor.select_preset("code")
    assert editor.current_id() == copy.id
    assert editor.form.description.text() == "half-typed"
    assert asked == ["Discard changes to New preset?"]
    assert editor.select_preset("code") and len(asked) == 2  # yes: the edit is dropped
    assert editor.select_preset(copy.id) and editor.form.description.text() == ""


def test_a_broken_user_file_is_reported_on_open(open_editor, store, user_dir):
    user_dir.mkdir(parents=True)
    broken = json.loads(resource_path("presets", "code.json").read_text(encoding="utf-8"))
    broken.update(id="hot-code", name="Hot code")
    broken["sampling"]["temperature"] = "hot"
    (user_dir / "hot-code.json").write_text(json.dumps(broken), encoding="utf-8")
    store.reload()
    dialog = open_editor()
    text = dialog.error_text()
    assert "hot-code.json" in text and "sampling.temperature" in text
    assert list_ids(dialog) == list(BUILTIN_ORDER)


def test_every_tab_fits_a_small_editor_window(editor, qtbot, confirm):
    """At 900 x 620, with the error banner showing, every field of every tab is on
    screen whole: nothing is squeezed to nothing or cut off by the window's edge."""
    editor.resize(900, 620)
    assert editor.size() == QSize(900, 620)  # the layout's minimum is no larger
    editor.select_preset("summarize")
    assert editor.read_only_note.isVisible() and editor.preset_list.isVisible()
    editor.duplicate_current()
    message = "Output JSON schema is not valid JSON (line 2, column 20: Expecting value)."
    editor.banner.show_message(message)
    qtbot.wait(50)
    assert editor.banner.isVisible() and editor.error_text() == message
    for index in range(editor.form.tabs.count()):
        editor.form.tabs.setCurrentIndex(index)
        qtbot.wait(20)
        page = editor.form.tabs.currentWidget()
        fields = [w for w in page.findChildren(QWidget) if w.parent() is page and w.isVisible()]
        assert fields, editor.form.tabs.tabText(index)
        for field in fields:
            where = QRect(field.mapTo(page, QPoint(0, 0)), field.size())
            assert not where.isEmpty() and page.rect().contains(where), \
                (editor.form.tabs.tabText(index), field.accessibleName() or field)


def test_closing_with_unsaved_edits_asks_first(editor, confirm):
    asked, answers = confirm
    editor.new_preset()
    set_field(editor, "name", "Unsaved")
    answers.append(False)
    editor.close_button.click()
    assert editor.isVisible() and editor.form.name.text() == "Unsaved"
    editor.reject()  # Escape: asks again; yes this time
    assert not editor.isVisible() and len(asked) == 2
