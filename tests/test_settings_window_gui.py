"""The settings window: values checked as typed, locked values greyed, saves that apply."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from desktop_app.core.paths import Paths
from desktop_app.core.services import build_services
from desktop_app.ui.settings import SettingsDialog
from desktop_app.ui.settings.fields import LOCKED_TEXT
from desktop_app.ui.settings.theme import apply_theme, is_dark


@pytest.fixture
def dialog(qtbot, services):
    opened = []

    def make(svc=None, **options):
        options.setdefault("open_url", lambda url: opened.append(url.toLocalFile()) or True)
        window = SettingsDialog(svc or services, **options)
        qtbot.addWidget(window)
        window.show()
        window.opened = opened
        return window

    yield make
    apply_theme("system")


def test_a_typed_invalid_value_shows_its_reason_and_blocks_save(dialog, services):
    window = dialog()
    window.show_page("Models")
    field = window.models.n_ctx
    field.edit.setText("100")
    assert field.reason.text() == "Must be a whole number from 128 to 1048576."
    assert field.reason.isVisibleTo(window)
    assert not window.save_button.isEnabled()
    assert "Default context size" in window.status.text()
    field.edit.setText("lots")
    assert "is not a whole number" in field.reason.text()
    assert window.save() is None  # even if Save were pressed some other way
    assert not services.paths.settings_file.exists()
    field.edit.setText("8192")
    assert field.reason.text() == "" and window.save_button.isEnabled()

    threads = window.models.threads  # "Automatic" or a number, checked by the same rule
    threads.auto.setChecked(False)
    threads.edit.setText("600")
    assert "from 1 to 512" in threads.reason.text() and "null" not in threads.reason.text()
    assert not window.save_button.isEnabled()
    threads.auto.setChecked(True)
    assert window.save_button.isEnabled()

    mirror = window.network.mirror
    mirror.edit.setText("not a url")
    assert "http(s) address" in mirror.reason.text()
    assert not window.save_button.isEnabled()


def test_saving_writes_the_file_atomically_and_applies_live(dialog, services, monkeypatch):
    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace",
                        lambda src, dst: replaced.append((str(src), str(dst)))
                        or real_replace(src, dst))
    heard = []
    services.settings_service.subscribe(heard.append)
    window = dialog()
    assert not is_dark()
    window.general.theme.combo.setCurrentIndex(window.general.theme.combo.findData("dark"))
    window.models.keep.edit.setText("3")
    window.models.n_ctx.edit.setText("2048")
    names = window.save()
    assert names == {"theme", "keep_models_loaded", "n_ctx"}
    saved = json.loads(services.paths.settings_file.read_text())
    assert (saved["theme"], saved["keep_models_loaded"], saved["n_ctx"]) == ("dark", 3, 2048)
    assert replaced == [(str(services.paths.settings_file.with_suffix(".json.tmp")),
                         str(services.paths.settings_file))]  # one write, temp file moved in
    assert is_dark()  # the theme applied at once
    assert services.settings.keep_models_loaded == 3 and heard == [
        frozenset({"keep_models_loaded", "n_ctx"})]
    text = window.status.text()
    assert "Applied now: models kept loaded, theme." in text
    assert "Applies when a model is next loaded: context size." in text
    assert not window.save_button.isEnabled()  # nothing left to save

    reopened = build_services(Paths.under(services.paths.data_dir.parent))
    assert reopened.settings.extra["theme"] == "dark" and reopened.settings.n_ctx == 2048


def test_a_policy_locked_value_is_greyed_with_the_sentence(qtbot, dialog, scalpel_home,
                                                           tmp_path, write_policy):
    system = tmp_path / "etc-scalpel"
    policy_file = write_policy(system, {"locked_settings": {"n_threads": 2, "n_ctx": 4096},
                                        "hub_endpoint": "https://mirror.corp.example",
                                        "downloads_allowed": False, "api_enabled": False})
    services = build_services(replace(Paths.under(scalpel_home), system_config_dir=system), {})
    window = dialog(services)
    threads, n_ctx, mirror = window.models.threads, window.models.n_ctx, window.network.mirror
    for field in (threads, n_ctx, mirror):
        assert field.locked and field.reason.text() == LOCKED_TEXT
        assert not any(editor.isEnabled() for editor in field.editors())
        assert str(policy_file) in field.editors()[0].toolTip()
    assert threads.edit.text() == "2" and not threads.auto.isChecked()
    assert mirror.edit.text() == "https://mirror.corp.example"
    assert not window.network.findChild(type(window.status), "downloads_off").isEnabled()
    assert not window.privacy.api.isEnabled() and LOCKED_TEXT in window.privacy.api.text()

    window.models.keep.edit.setText("2")  # what is not locked still saves
    assert window.save() == {"keep_models_loaded"}
    saved = json.loads(services.paths.settings_file.read_text())
    assert saved["n_threads"] is None and saved["n_ctx"] == 4096  # the person's own values


def test_escalation_is_checked_as_typed_and_saved_as_one_object(dialog, services):
    window = dialog()
    section = window.privacy.escalation
    section.endpoint.edit.setText("ftp://llm.example")
    assert "http(s) address" in section.endpoint.reason.text()
    assert not window.save_button.isEnabled()
    section.endpoint.edit.setText("https://llm.example/v1")
    section.mode.combo.setCurrentIndex(section.mode.combo.findData("ask"))
    section.model.edit.setText("qwen2.5-72b")
    section.key_env.edit.setText("MY KEY")
    assert "environment variable" in section.key_env.reason.text()
    section.key_env.edit.setText("SCALPEL_LLM_KEY")
    section.budget.edit.setText("150")
    assert "from 0 to 100" in section.budget.reason.text()
    section.budget.edit.setText("10")
    assert window.save() == {"escalation"}
    saved = services.settings.escalation
    assert (saved["mode"], saved["endpoint"], saved["model"], saved["api_key_env"],
            saved["share_budget"], saved["tasks"]) == (
        "ask", "https://llm.example/v1", "qwen2.5-72b", "SCALPEL_LLM_KEY", 0.1, None)
    assert "Applied now: escalation" in window.status.text()   # the window hands it over


def test_escalation_set_by_the_policy_is_greyed(dialog, scalpel_home, tmp_path, write_policy):
    system = tmp_path / "etc-scalpel"
    write_policy(system, {"escalation": {"mode": "auto", "endpoint": "https://llm.corp/v1",
                                         "model": "big"}})
    services = build_services(replace(Paths.under(scalpel_home), system_config_dir=system), {})
    window = dialog(services)
    section = window.privacy.escalation
    assert section.locked and section.mode.reason.text() == LOCKED_TEXT
    assert section.endpoint.edit.text() == "https://llm.corp/v1"
    assert not section.endpoint.edit.isEnabled() and not section.tasks.isEnabled()


def test_clearing_the_history_asks_first(dialog, services):
    for title in ("one", "two"):
        services.chat_store.create_chat(title=title)
    answers = []
    window = dialog(confirm=lambda question: answers.append(question) or answers_given.pop(0))
    answers_given = [False, True]
    assert window.privacy.clear_history() is None
    assert len(services.chat_store.list_chats()) == 2 and "Delete all 2 chats" in answers[0]
    assert window.privacy.clear_history() == 2
    assert services.chat_store.list_chats() == []
    assert window.privacy.history_result.text() == "2 chats deleted."


def test_advanced_opens_the_folders_and_models_explain_automatic(dialog, services):
    window = dialog()
    for name in ("data", "config", "logs"):
        window.advanced.buttons[name].click()
    assert window.opened == [str(services.paths.data_dir), str(services.paths.config_dir),
                             str(services.paths.log_dir)]
    note = window.models.threads.note.text()
    assert note.startswith("Automatic uses ") and "physical core" in note
    assert "this llama.cpp build has no GPU backend" in window.models.gpu.note.text()


def test_flash_attention_is_automatic_until_the_person_turns_it_off(dialog, services):
    window = dialog()
    combo = window.models.flash.combo
    assert combo.currentText() == "Automatic" and services.load_options().flash_attn is None
    assert "on while a model runs on the CPU" in window.models.flash.note.text()
    combo.setCurrentIndex(combo.findData(False))
    assert window.save() == {"flash_attn"}
    assert "Applies when a model is next loaded: flash attention." in window.status.text()
    assert json.loads(services.paths.settings_file.read_text())["flash_attn"] is False
    assert services.load_options().flash_attn is False
    combo.setCurrentIndex(combo.findData(None))
    window.save()
    assert json.loads(services.paths.settings_file.read_text())["flash_attn"] is None
    assert services.load_options().flash_attn is None


def test_the_window_has_file_settings_with_ctrl_comma(qtbot, open_window, monkeypatch):
    window = open_window()
    action = window.settings_menu.action
    assert action.shortcut() == QKeySequence("Ctrl+,")
    assert action in window.menuBar().actions()[0].menu().actions()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    qtbot.keyClick(window.prompt, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    dialog = window.settings_menu.dialog
    assert dialog is not None and dialog.isVisible()

    kept = []
    monkeypatch.setattr(window.bridge, "set_keep_loaded", kept.append)
    dialog.models.keep.edit.setText("2")
    dialog.network.mirror.edit.setText("https://mirror.example")
    dialog.network.token.edit.setText("hf_abc")
    dialog.save()
    assert kept == [2]  # the engine keeps two models from now on
    hub = window.downloads.manager.hub  # the next download uses the new mirror and token
    assert hub.token == "hf_abc" and "mirror.example" in str(hub.endpoint)
    assert "Applies from the next download: mirror, Hub token" in dialog.status.text()
    dialog.close()


def test_the_saved_theme_applies_as_the_window_opens(open_window, services):
    services.settings.extra["theme"] = "dark"
    try:
        open_window()
        assert is_dark()
    finally:
        apply_theme("system")
    assert not is_dark()


def test_privacy_switches_the_local_api_and_clears_the_windows_chats(qtbot, open_window,
                                                                     services):
    window = open_window()
    chat = services.chat_store.create_chat(title="private").id
    assert window.panel.open_chat(chat) and window.chat.chat_id == chat
    dialog = window.settings_menu.open("Privacy")
    privacy = dialog.privacy
    assert privacy.api.isEnabled() and not privacy.api.isChecked()
    privacy.api.setChecked(True)
    assert dialog.save_button.isEnabled()  # an action to do, though no setting changed
    dialog.save()
    try:
        assert window.api_panel.server is not None and window.api_panel.switch.isChecked()
        assert f"The local API is on at {window.api_panel.server.address}" in dialog.status.text()
    finally:
        privacy.api.setChecked(False)
        dialog.save()
    assert window.api_panel.server is None and "The local API is off" in dialog.status.text()

    privacy._confirm = lambda question: True
    assert privacy.clear_history() == 1
    assert services.chat_store.list_chats() == [] and window.chat.chat_id != chat
    dialog.close()


def test_every_control_in_the_settings_window_has_a_name(dialog):
    """Screen readers: every interactive control says what it is (text or accessible name)."""
    from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QComboBox, QLineEdit,
                                   QWidget)

    window = dialog()
    unnamed = []
    for widget in window.findChildren(QWidget):
        if isinstance(widget, QAbstractButton):
            named = widget.text().strip() or widget.accessibleName()
        elif isinstance(widget, (QLineEdit, QComboBox, QAbstractItemView)):
            named = widget.accessibleName()
        else:
            continue
        if _inside_a_combo_box(widget):
            continue  # a combo box's own popup list: the combo box names it
        if not named:
            unnamed.append(f"{type(widget).__name__} {widget.objectName()!r}")
    assert not unnamed, unnamed


def _inside_a_combo_box(widget) -> bool:
    from PySide6.QtWidgets import QComboBox

    parent = widget.parent()
    while parent is not None:
        if isinstance(parent, QComboBox):
            return True
        parent = parent.parent()
    return False


def test_the_person_sets_a_proxy_ca_bundle_and_turns_downloads_off(dialog, services,
                                                                    tmp_path):
    from desktop_app.core.errors import DownloadsDisabledError

    window = dialog()
    network = window.network
    network.proxy.edit.setText("proxy.example:3128")          # no scheme
    assert "proxy address" in network.proxy.reason.text()
    assert not window.save_button.isEnabled()
    network.proxy.edit.setText("http://proxy.example:3128")
    network.ca_bundle.edit.setText("corp-ca.pem")              # not a full path
    assert "full path" in network.ca_bundle.reason.text() and not window.save_button.isEnabled()
    network.ca_bundle.edit.setText(str(tmp_path / "corp-ca.pem"))
    network.downloads.combo.setCurrentIndex(network.downloads.combo.findData(False))
    assert window.save() == {"proxy", "ca_bundle", "downloads_enabled"}
    hub = services.hub_client()
    assert (services.proxy, services.ca_bundle) == ("http://proxy.example:3128",
                                                    str(tmp_path / "corp-ca.pem"))
    assert (hub.proxy, str(hub.ca_bundle)) == (services.proxy, services.ca_bundle)
    assert not services.downloads_allowed
    assert not services.can_download(services.catalog.get("qwen2.5-0.5b-instruct"))
    with pytest.raises(DownloadsDisabledError, match="Settings ▸ Network"):
        services.download_admission("qwen2.5-0.5b-instruct", None)


def test_the_policys_proxy_wins_and_is_shown_locked(dialog, scalpel_home, tmp_path,
                                                    write_policy):
    system = tmp_path / "etc-scalpel"
    write_policy(system, {"proxy": "http://corp-proxy:8080"})
    services = build_services(replace(Paths.under(scalpel_home), system_config_dir=system), {})
    services.update_settings(proxy="http://my-proxy:3128")
    window = dialog(services)
    assert window.network.proxy.locked and window.network.proxy.edit.text() == \
        "http://corp-proxy:8080"
    assert services.proxy == "http://corp-proxy:8080"
