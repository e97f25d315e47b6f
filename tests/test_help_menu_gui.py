"""The Help menu: the real shortcuts, About without libllama, the log folder, a report."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QLabel, QMessageBox, QTableWidget

from desktop_app.core.problem_report import DoctorOutput
from desktop_app.ui.help_menu import shortcuts


def test_shortcuts_are_read_from_the_windows_actions(qtbot, open_window):
    window = open_window()
    rows = {what: keys for what, keys, _menu in shortcuts(window)}
    menus = {what: menu for what, _keys, menu in shortcuts(window)}
    native = QKeySequence.SequenceFormat.NativeText
    assert rows["Models"] == QKeySequence("Ctrl+M").toString(native)
    assert rows["Settings"] == QKeySequence("Ctrl+,").toString(native)
    assert rows["Search chats"] == QKeySequence("Ctrl+F").toString(native)
    assert rows["Send the message"] == "Enter"
    assert menus["Settings"] == "File" and menus["Search chats"] == "Chat"
    window.models_action.setShortcut(QKeySequence("Ctrl+Shift+M"))  # follows the action
    table = window.help_menu.show_shortcuts().findChild(QTableWidget)
    shown = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert shown["Models"] == QKeySequence("Ctrl+Shift+M").toString(native)


def test_about_names_versions_and_backends(qtbot, open_window):
    window = open_window()
    dialog = window.help_menu.show_about()
    text = dialog.findChild(QLabel, "aboutFacts").text()
    assert "Scalpel: 0.1.0" in text
    assert "llama-cpp-python / llama.cpp: 0.3.36" in text
    assert "Backends: CPU" in text and "Qt: 6." in text


def test_about_never_loads_libllama_in_the_window_process():
    code = textwrap.dedent("""
        from desktop_app.ui.help_menu import about_facts
        facts = about_facts()
        maps = open("/proc/self/maps").read()
        import json, sys
        print(json.dumps({"facts": facts, "libllama": "libllama" in maps,
                          "llama_cpp": "llama_cpp" in sys.modules}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["facts"]["Backends"] == "CPU"
    assert result["libllama"] is False and result["llama_cpp"] is False


def test_open_log_folder_and_save_a_problem_report(qtbot, open_window, services, tmp_path):
    window = open_window()
    opened = []
    menu = window.help_menu
    menu._open_url = lambda url: opened.append(url.toLocalFile()) or True
    menu.log_action.trigger()
    assert opened == [str(services.paths.log_dir)]

    services.chat_store.create_chat(title="private")  # chats.sqlite3 exists
    assert (services.paths.data_dir / "chats.sqlite3").is_file()
    (services.paths.log_dir / "scalpel.log").write_text("INFO hello\n", encoding="utf-8")
    menu._doctor = lambda: DoctorOutput(json.dumps({"scalpel": "0.1.0"}))
    target = tmp_path / "report"  # ".zip" is added
    with qtbot.waitSignal(menu.report_done, timeout=30_000):
        menu.save_problem_report(target)
    qtbot.waitUntil(lambda: menu.result_box is not None, timeout=5_000)
    box = menu.result_box
    assert f"Saved to {target.with_suffix('.zip')}" in box.text()
    assert "never chats or documents" in box.text()
    with zipfile.ZipFile(target.with_suffix(".zip")) as archive:
        names = archive.namelist()
    assert "logs/scalpel.log" in names and "doctor.json" in names
    assert not any("chats" in name or "sqlite" in name for name in names)
    show = next(b for b in box.buttons() if b.text() == "Show in folder")
    show.click()
    assert opened[-1] == str(tmp_path)
    assert menu.report_action.isEnabled()
    box.done(QMessageBox.StandardButton.Close)
