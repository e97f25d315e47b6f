"""The policy in the window: refused models greyed out and refused on load, locked settings,
downloads hidden, provisioned models chatting, and what the person is told."""

from __future__ import annotations

from dataclasses import replace

import pytest
from gui_helpers import LOAD_TIMEOUT_MS, send, started
from PySide6.QtWidgets import QLabel

from desktop_app.core.paths import Paths
from desktop_app.core.services import build_services

pytestmark = pytest.mark.model  # every window here loads a model as it opens


@pytest.fixture
def managed_window(qtbot, scalpel_home, tmp_path, write_policy):
    """Open a window on services that read ``policy`` as the machine's policy file."""
    from desktop_app.app import create_window

    windows = []

    def open_(policy: dict | str):
        system = tmp_path / "etc-scalpel"
        write_policy(system, policy)
        services = build_services(replace(Paths.under(scalpel_home), system_config_dir=system), {})
        window = create_window(services)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window, services

    yield open_
    for window in windows:
        window.close()


def provisioned_share(tmp_path, model):
    share = tmp_path / "share"
    (share / "it").mkdir(parents=True)
    (share / "it" / model.name).symlink_to(model)
    return share


def test_refused_models_are_greyed_out_and_refused_on_load(qtbot, managed_window, tmp_path,
                                                            smollm2_path, smollm2_copy):
    from desktop_app.core.downloads.installed import sha256_of

    share = provisioned_share(tmp_path, smollm2_copy)
    window, services = managed_window({
        "allowed_models": ["sha256:" + sha256_of(smollm2_copy)], "model_dirs": [str(share)],
        "locked_settings": {"keep_models_loaded": 1}})
    starter = str(smollm2_path)
    action = window.models_menu.model_actions[starter]
    assert not action.isEnabled() and "not allowed by your organization" in action.text()
    combo = window.model_combo
    index = combo.findData(starter)
    assert not combo.model().item(index).isEnabled()
    assert window.models_menu.model_actions[str(share / "it" / smollm2_copy.name)].isEnabled()
    assert not window.models_menu.keep_menu.isEnabled()
    assert "set by your organization" in window.models_menu.keep_menu.title()
    window.models_menu.keep_actions[3].trigger()  # even if something triggers it anyway
    assert services.settings.keep_models_loaded == 1
    assert window.managed_badge.isVisibleTo(window)
    assert "Only 1 approved model" in window.managed_badge.toolTip()

    started(qtbot, window)  # the default model is the allowed, provisioned one
    assert window.chat.model.path.endswith(smollm2_copy.name)
    assert send(qtbot, window, "Say hello.").stats.completion_tokens > 0

    with qtbot.waitSignal(window.bridge.model_load_failed, timeout=LOAD_TIMEOUT_MS):
        window.open_model_file(starter)  # e.g. "Open model file…" on a refused file
    assert "not on your organization's list of allowed models" in window.errors.message()
    assert window.chat.model.path.endswith(smollm2_copy.name)  # the allowed one stays
    assert window.errors.isVisible() and window.managed_badge.isVisible()


def test_downloads_off_hides_downloading_in_the_model_manager(qtbot, managed_window):
    window, services = managed_window({"downloads_allowed": False})
    manager = window.open_model_manager()
    tab_names = [manager.tabs.tabText(i) for i in range(manager.tabs.count())]
    assert not any("Hugging Face" in name for name in tab_names)
    assert manager.managed_note.isVisibleTo(manager)
    assert not manager.downloads_panel.isVisibleTo(manager)
    cell = manager.catalog_tab.status_cell("qwen2.5-0.5b-instruct")
    assert cell.state_text() == "Downloads off"
    assert manager.download_catalog_entry("qwen2.5-0.5b-instruct") is None
    assert "turned off by your organization" in manager.error_text()
    assert manager.downloads.statuses() == []


def test_an_allow_list_marks_other_catalog_models(qtbot, managed_window):
    window, _ = managed_window({"allowed_models": ["smollm2-135m-instruct"]})
    manager = window.open_model_manager()
    assert manager.catalog_tab.status_cell("qwen2.5-0.5b-instruct").state_text() == "Not allowed"
    assert manager.catalog_tab.status_cell("smollm2-135m-instruct").state_text() != "Not allowed"


def test_provisioned_models_cannot_be_deleted(qtbot, managed_window, tmp_path, smollm2_copy):
    share = provisioned_share(tmp_path, smollm2_copy)
    window, _ = managed_window({"model_dirs": [str(share)]})
    manager = window.open_model_manager()
    path = str(share / "it" / smollm2_copy.name)
    assert manager.installed_tab.select_path(path)
    assert not manager.installed_tab.delete_button.isEnabled()
    assert "Provided by your organization" in manager.installed_tab.delete_button.toolTip()
    assert manager.delete_model(path, confirm=False) is None
    assert (share / "it" / smollm2_copy.name).exists()


def test_a_broken_policy_is_said_at_start_and_read_strictly(qtbot, managed_window):
    from desktop_app.app import startup_problems

    window, services = managed_window("{ this is not json")
    problems = startup_problems(services, None)
    assert any("is not valid JSON" in p and "no model can be loaded" in p for p in problems)
    assert any(p.startswith("The installed models cannot be loaded") for p in problems)
    assert window.managed_badge.isVisibleTo(window)
    assert not window.models_menu.model_actions  or all(
        not a.isEnabled() for a in window.models_menu.model_actions.values())


def test_no_policy_shows_no_badge(open_window):
    window = open_window()
    assert not window.managed_badge.isVisibleTo(window)
    assert not window.findChildren(QLabel, "managedNote")
