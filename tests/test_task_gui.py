"""Tasks and models switched from the menus, with the real engine and model."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
from PySide6.QtCore import Qt

from desktop_app.core.catalog import Catalog, CatalogEntry
from desktop_app.core.models import STARTER_ID
from desktop_app.ui.task_switcher import DOWNLOAD, KEEP
from gui_helpers import (DOWNLOAD_TIMEOUT_MS, LOAD_TIMEOUT_MS, REPLY_TIMEOUT_MS, send, set_field,
                         started, write_user_preset)
from hub_server import FakeHub


def record_requests(window):
    """Wrap the real engine's generate to see exactly what each answer was asked with."""
    engine = window.bridge.engine
    calls = []
    real_generate = engine.generate

    def generate(messages, params):
        calls.append((messages, params))
        return real_generate(messages, params)

    engine.generate = generate
    return calls






def test_task_menu_lists_the_presets_with_shortcuts(open_window, services):
    window = open_window()
    menu_titles = [action.text() for action in window.menuBar().actions()]
    assert menu_titles == ["&File", "&Chat", "&View", "&Task", "&Model", "&Help"]
    presets = services.presets.list()
    actions = window.tasks.actions
    assert list(actions) == [p.id for p in presets]
    assert [actions[p.id].shortcut().toString() for p in presets] == [
        f"Ctrl+{n}" for n in range(1, len(presets) + 1)]
    assert window.tasks.combo.count() == len(presets)
    assert window.tasks.edit_action in window.tasks.menu.actions()


def test_ctrl_number_switches_the_task_and_what_is_sent(qtbot, open_window, services):
    window = started(qtbot, open_window())
    # a new install starts on Auto, which gives an everyday question to General chat
    assert window.chat.preset.id == "auto" and window.tasks.combo.currentData() == "auto"
    calls = record_requests(window)
    send(qtbot, window, "Name a colour.")
    assert window.chat.path[-1].preset_id == "general"
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_6, Qt.KeyboardModifier.ControlModifier)  # Write email
    assert window.chat.preset.id == "email"
    assert window.tasks.actions["email"].isChecked()
    assert window.tasks.combo.currentData() == "email"
    assert services.settings.last_preset == "email"
    send(qtbot, window, "lunch moved to 1pm")
    (first_messages, first_params), (second_messages, second_params) = calls
    general, email = services.presets.get("general"), services.presets.get("email")
    assert first_messages[0] == {"role": "system", "content": general.system_prompt}
    assert second_messages[0] == {"role": "system", "content": email.system_prompt}
    assert second_messages[-1]["content"] == "Write an email from these notes:\n\nlunch moved to 1pm"
    assert [m["role"] for m in second_messages] == ["system", "user", "assistant", "user"]
    assert (first_params.temperature, first_params.max_tokens) == (0.7, 1024)
    assert (second_params.temperature, second_params.max_tokens,
            second_params.repeat_penalty) == (0.6, 768, 1.05)
    assert "lunch moved to 1pm" in window.view.toPlainText()  # shown as typed,
    assert "Write an email from these notes" not in window.view.toPlainText()


def test_extract_to_json_answers_with_valid_json(qtbot, open_window, services):
    window = started(qtbot, open_window())
    window.select_preset("json")
    assert "Qwen2.5 1.5B" in window.notice.message()  # the best model is offered...
    assert "Answers come from SmolLM2 135M" in window.notice.message()  # ...and who answers now
    qtbot.mouseClick(window.notice.button(KEEP), Qt.MouseButton.LeftButton)
    assert not window.notice.isVisible()
    finished = send(qtbot, window, "Maria Lopez flew from Madrid to Oslo on 2 May for Nordic Oil.")
    data = json.loads(finished.text)
    assert set(data) >= {"title", "people", "places"}
    window.select_preset("general")
    window.select_preset("json")
    assert not window.notice.isVisible()  # declined once: not offered again this session


def test_switching_models_mid_chat_keeps_the_history(qtbot, open_window, services, smollm2_copy):
    window = started(qtbot, open_window(temperature=0.0, max_tokens=30))
    calls = record_requests(window)
    send(qtbot, window, "Say hello.")
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=LOAD_TIMEOUT_MS) as loaded:
        window.open_model_file(str(smollm2_copy))
    info = loaded.args[0]
    assert info.name == "SmolLM2-no-template" and info.chat_template.startswith("chatml")
    send(qtbot, window, "Say goodbye.")
    messages, _ = calls[-1]
    assert [m["content"] for m in messages[1:]][:1] == ["Say hello."]
    assert len(window.chat.history) == 4
    assert window.bridge.engine.model_info.path == str(smollm2_copy)
    text = window.view.toPlainText()
    assert "SmolLM2 135M Instruct (starter)" in text and "SmolLM2-no-template" in text
    assert text.index("SmolLM2-no-template") > text.index("Say goodbye.") - 40


def test_a_task_whose_model_is_installed_loads_it_in_the_background(
        qtbot, open_window, services, smollm2_copy):
    write_user_preset(services, "tiny-code", name="Tiny code", icon="code",
                      system_prompt="You write code.", preferred_models=[str(smollm2_copy)])
    window = started(qtbot, open_window(temperature=0.0, max_tokens=20))
    send(qtbot, window, "Hi")
    before = window.view.toPlainText()
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=LOAD_TIMEOUT_MS):
        window.tasks.actions["tiny-code"].trigger()
        assert window.loading and window.status.loading_bar.isVisible()
        assert "SmolLM2-no-template" in window.status.loading_label.text()
        assert window.view.toPlainText() == before  # the chat stays on screen
    assert not window.status.loading_bar.isVisible()
    assert window.chat.model.path == str(smollm2_copy)
    assert window.models_menu.model_actions[str(smollm2_copy)].isChecked()
    assert window.chat.preset.id == "tiny-code" and len(window.chat.history) == 2


def test_model_menu_switches_and_details_show_the_template(qtbot, open_window, services,
                                                           smollm2_copy):
    services.settings.remember_model(str(smollm2_copy))
    services.registry.opened_paths = list(services.settings.recent_models)
    window = started(qtbot, open_window())
    actions = window.models_menu.model_actions
    starter = str(services.registry.resolve(STARTER_ID).path)
    assert set(actions) == {starter, str(smollm2_copy)} and actions[starter].isChecked()
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=LOAD_TIMEOUT_MS):
        actions[str(smollm2_copy)].trigger()
    dialog = window.open_model_details()
    assert dialog.value("Chat template").startswith("chatml")
    assert "vocabulary" in dialog.value("Chat template")
    assert dialog.value("Architecture") == "llama"
    dialog.close()


def test_keep_two_models_loaded_makes_switching_back_instant(qtbot, open_window, services,
                                                             smollm2_copy, caplog):
    caplog.set_level(logging.INFO, logger="desktop_app.engine_process")
    window = started(qtbot, open_window())

    def engine_log(text):  # the engine process's own log lines, forwarded in order
        return [r.getMessage() for r in caplog.records
                if r.name == "desktop_app.engine_process" and text in r.getMessage()]

    def opened():  # it logs each file llama.cpp opens
        return engine_log("engine: loaded ")
    # The log comes over the child's stderr on its own thread, after the reply may have.
    qtbot.waitUntil(lambda: len(opened()) == 1, timeout=LOAD_TIMEOUT_MS)
    window.models_menu.keep_actions[2].trigger()
    assert services.settings.keep_models_loaded == 2
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=LOAD_TIMEOUT_MS):
        window.open_model_file(str(smollm2_copy))
    assert window.bridge.loaded_models == ["SmolLM2 135M Instruct (starter)", "SmolLM2-no-template"]
    qtbot.waitUntil(lambda: len(opened()) == 2, timeout=LOAD_TIMEOUT_MS)
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=LOAD_TIMEOUT_MS) as back:
        window.load_model(services.registry.resolve(STARTER_ID))
    assert back.args[0].name == "SmolLM2 135M Instruct (starter)"
    # Its log line says it was kept; any opening logged before it has arrived by then.
    qtbot.waitUntil(lambda: bool(engine_log("switched to SmolLM2 135M Instruct (starter), kept")),
                    timeout=LOAD_TIMEOUT_MS)
    assert len(opened()) == 2 and "SmolLM2-no-template" in opened()[1]  # nothing reopened
    assert window.bridge.loaded_models == ["SmolLM2-no-template", "SmolLM2 135M Instruct (starter)"]


def test_the_last_task_comes_back_after_a_restart(qtbot, open_window, services):
    window = started(qtbot, open_window())
    window.select_preset("translate")
    window.close()
    again = started(qtbot, open_window())
    assert again.chat.preset.id == "translate" and again.tasks.actions["translate"].isChecked()
    again.chat_new()
    assert again.chat.preset.id == "translate"  # a new chat keeps the task


# -- the whole story: JSON, then a code model downloaded for its task -------------------
@pytest.fixture
def coder_hub(smollm2_copy):
    hub = FakeHub()
    sha = hashlib.sha256(smollm2_copy.read_bytes()).hexdigest()
    hub.host_file("scalpel-tests/Coder-GGUF", "coder.Q4_1.gguf", smollm2_copy, sha256=sha)
    hub.start()
    yield hub, sha
    hub.stop()


def test_json_then_code_task_downloads_and_loads_its_model(qtbot, open_window, services,
                                                         coder_hub, smollm2_copy):
    hub, sha = coder_hub
    coder = CatalogEntry(
        id="test-coder", name="Test Coder 135M", repo="scalpel-tests/Coder-GGUF",
        filename="coder.Q4_1.gguf", revision=None, size_bytes=smollm2_copy.stat().st_size,
        sha256=sha, parameters=134_515_008, quantization="Q4_1", context_length=8192,
        license="apache-2.0", tasks=("code",), description="SmolLM2 under another name",
        n_layers=30, n_kv_heads=3, head_dim=64)
    catalog = Catalog([*services.catalog.entries, coder])
    services.__dict__["catalog"] = catalog
    services.registry.catalog = catalog
    write_user_preset(services, "code", name="Code assistant", icon="code",
                      system_prompt="You are an expert programmer.",
                      sampling={"temperature": 0.2}, max_tokens=60,
                      preferred_models=["test-coder"])
    window = started(qtbot, open_window(hub_endpoint=hub.url))
    window.select_preset("json")
    finished = send(qtbot, window, "Ann Lee joined Globex in Berlin in 2021.")
    json.loads(finished.text)
    shown = window.view.toPlainText()
    window.tasks.actions["code"].trigger()
    assert "Test Coder 135M" in window.notice.message()
    assert window.chat.model.name == "SmolLM2 135M Instruct (starter)"  # answers meanwhile
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=DOWNLOAD_TIMEOUT_MS) as loaded:
        qtbot.mouseClick(window.notice.button(DOWNLOAD), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.loading, timeout=DOWNLOAD_TIMEOUT_MS)
        assert "Test Coder 135M" in window.status.loading_label.text()
        assert window.status.loading_label.isVisible() and window.status.loading_bar.isVisible()
    assert loaded.args[0].name == "Test Coder 135M"
    assert window.view.toPlainText().startswith(shown[:200])  # the chat stayed
    reply = send(qtbot, window, "Write hello world in Python.")
    assert reply.stats.completion_tokens > 0
    assert window.view.toPlainText().count("Test Coder 135M") == 1


def test_a_task_chosen_during_an_answer_loads_its_model_after_it(qtbot, open_window, services,
                                                                 smollm2_copy):
    write_user_preset(services, "tiny-code", name="Tiny code", preferred_models=[str(smollm2_copy)])
    window = started(qtbot, open_window(temperature=0.0, max_tokens=400))
    with qtbot.waitSignal(window.bridge.text_ready, timeout=REPLY_TIMEOUT_MS):
        window.prompt.setPlainText("Tell me a long story about a lighthouse.")
        qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    window.select_preset("tiny-code")
    assert window.chat.preset.id == "tiny-code" and window.chat.answering
    assert "loads when this answer ends" in window.status.model.text()
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=REPLY_TIMEOUT_MS) as loaded:
        window.chat.stop()
    assert loaded.args[0].path == str(smollm2_copy)
    assert [m["role"] for m in window.chat.history] == ["user", "assistant"]


def test_presets_made_in_the_editor_appear_in_the_task_menu(qtbot, open_window, services):
    window = open_window()
    window.select_preset("code")
    window.tasks.edit_action.trigger()
    editor = window.preset_editor
    assert editor.isVisible() and editor.current_id() == "code" and editor.is_read_only()
    copy = editor.duplicate_current()
    set_field(editor, "system_prompt", "Answer only in Rust.")
    assert editor.save() is not None
    assert copy.id in window.tasks.actions
    window.tasks.actions[copy.id].trigger()
    assert window.chat.preset.system_prompt == "Answer only in Rust."
    set_field(editor, "system_prompt", "Answer only in Go.")
    editor.save()
    assert window.chat.preset.system_prompt == "Answer only in Go."  # edits apply at once
    editor.close()
    window.tasks.edit_action.trigger()
    assert window.preset_editor is not editor and window.preset_editor.isVisible()
