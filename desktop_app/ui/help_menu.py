"""The Help menu: keyboard shortcuts, the log folder, a problem report, About.

The shortcuts listed are read from the window's own actions, so the list cannot drift
from what the keys do. About names the versions and the llama.cpp build's backends from
package metadata and the build's file names (``core.build_info``): the window's process
never loads libllama. The problem report (``core.problem_report``) is written on a
worker thread (it runs ``scalpel doctor`` as its own process) and its path is shown
afterwards with "Show in folder".
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QObject, Qt, QUrl, Signal, Slot, qVersion
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QLabel, QMenu,
                               QMessageBox, QTableWidget, QTableWidgetItem, QVBoxLayout)

from ..core.build_info import llama_build, versions
from ..core.problem_report import (DoctorOutput, ProblemReport, ProblemReportError,
                                   default_report_name, run_doctor, save_problem_report)
from ..core.services import Services

OpenUrl = Callable[[QUrl], bool]
MESSAGE_BOX_KEYS = (("Send the message", "Enter", "Message box"),
                    ("New line in the message", "Shift+Enter", "Message box"))


def _plain(text: str) -> str:
    """A menu text without its mnemonic ampersands and trailing ellipsis."""
    text = text.replace("&&", "\x00").replace("&", "").replace("\x00", "&")
    return text.rstrip("…").rstrip(".").strip()


def shortcuts(window: Any) -> list[tuple[str, str, str]]:
    """(what, keys, menu) for every action of ``window`` that has a shortcut."""
    seen: set[tuple[str, str]] = set()
    rows: list[tuple[str, str, str]] = []
    for action in window.findChildren(QAction):
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        text = _plain(action.text())
        if keys and text and (text, keys) not in seen:
            seen.add((text, keys))
            menus = [o for o in action.associatedObjects() if isinstance(o, QMenu)]
            rows.append((text, keys, _plain(menus[0].title()) if menus else ""))
    return rows + list(MESSAGE_BOX_KEYS)


def about_facts() -> dict[str, str]:
    """What About shows; no Qt widget and no libllama needed beyond QtCore."""
    found = versions()
    build = llama_build()
    llama = found.get("llama-cpp-python") or "not installed"
    if build.ggml_version:
        llama += f" (ggml {build.ggml_version})"
    return {"Scalpel": found["scalpel"], "llama-cpp-python / llama.cpp": llama,
            "Backends": ", ".join(build.backend_names()) or "none found",
            "Qt": f"{qVersion()} (PySide6 {pyside_version})",
            "Python": found["python"], "System": found["platform"]}


class HelpMenu(QObject):
    report_done = Signal(object)  # a ProblemReport, or the error's sentence (str)

    def __init__(self, window: Any, services: Services, *, open_url: OpenUrl | None = None,
                 doctor: Callable[[], DoctorOutput] = run_doctor) -> None:
        super().__init__(window)
        self._window, self._services = window, services
        self._open_url = open_url or QDesktopServices.openUrl
        self._doctor = doctor
        self.shortcuts_dialog: QDialog | None = None
        self.about_dialog: QDialog | None = None
        self.result_box: QMessageBox | None = None
        self.menu = window.menuBar().addMenu("&Help")
        self.shortcuts_action = self.menu.addAction("&Keyboard shortcuts",
                                                    self.show_shortcuts)
        self.shortcuts_action.setShortcut(QKeySequence("Ctrl+/"))
        self.log_action = self.menu.addAction("Open the &log folder", self.open_log_folder)
        self.report_action = self.menu.addAction("Save a &problem report…",
                                                 lambda: self.ask_problem_report())
        self.menu.addSeparator()
        self.about_action = self.menu.addAction("&About Scalpel", self.show_about)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.report_done.connect(self._on_report_done, Qt.ConnectionType.QueuedConnection)

    # -- shortcuts and about -------------------------------------------------------------
    def show_shortcuts(self) -> QDialog:
        rows = shortcuts(self._window)
        table = QTableWidget(len(rows), 3)
        table.setHorizontalHeaderLabels(["Action", "Keys", "Menu"])
        table.setAccessibleName("Keyboard shortcuts")
        for row, cells in enumerate(rows):
            for column, text in enumerate(cells):
                table.setItem(row, column, QTableWidgetItem(text))
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.verticalHeader().hide()
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        self.shortcuts_dialog = self._dialog("Keyboard shortcuts", table, (560, 520))
        return self.shortcuts_dialog

    def show_about(self) -> QDialog:
        facts = about_facts()
        label = QLabel("\n".join(f"{name}: {value}" for name, value in facts.items()))
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setObjectName("aboutFacts")
        label.setAccessibleName("Versions")
        heading = QLabel("Scalpel: an offline assistant running language models on this "
                         "computer.")
        heading.setWordWrap(True)
        self.about_dialog = self._dialog("About Scalpel", [heading, label], (520, 260))
        return self.about_dialog

    def _dialog(self, title: str, content, size: tuple[int, int]) -> QDialog:
        dialog = QDialog(self._window)
        dialog.setWindowTitle(title)
        layout = QVBoxLayout(dialog)
        for widget in content if isinstance(content, list) else [content]:
            layout.addWidget(widget)
        if isinstance(content, list):
            layout.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.reject)
        layout.addWidget(buttons)
        dialog.resize(*size)
        dialog.show()
        return dialog

    # -- folders and the problem report --------------------------------------------------
    def open_log_folder(self) -> bool:
        return self._open_url(QUrl.fromLocalFile(str(self._services.paths.log_dir)))

    def ask_problem_report(self) -> None:
        start = Path.home() / default_report_name()
        path, _ = QFileDialog.getSaveFileName(self._window, "Save a problem report",
                                              str(start), "Zip files (*.zip)")
        if path:
            self.save_problem_report(Path(path))

    def save_problem_report(self, path: Path) -> threading.Thread:
        """Write the report on a worker thread; ``report_done`` follows."""
        self.report_action.setEnabled(False)
        self._window.statusBar().showMessage("Saving a problem report…")
        target = path if path.suffix.lower() == ".zip" else path.with_suffix(".zip")

        def work() -> None:
            try:
                result: object = save_problem_report(self._services.paths, target,
                                                     doctor=self._doctor)
            except ProblemReportError as exc:
                result = str(exc)
            self.report_done.emit(result)

        worker = threading.Thread(target=work, name="scalpel-problem-report", daemon=True)
        worker.start()
        return worker

    @Slot(object)
    def _on_report_done(self, result: object) -> None:
        self.report_action.setEnabled(True)
        self._window.statusBar().clearMessage()
        box = QMessageBox(self._window)
        box.setWindowTitle("Problem report")
        box.setTextFormat(Qt.TextFormat.PlainText)
        if isinstance(result, ProblemReport):
            missing = (f"\n\nThe doctor report is missing: {result.doctor_problem}."
                       if result.doctor_problem else "")
            box.setText(f"Saved to {result.path}\n\nIt holds the logs and the doctor "
                        f"report, never chats or documents.{missing}")
            show = box.addButton("Show in folder", QMessageBox.ButtonRole.ActionRole)
            show.clicked.connect(
                lambda: self._open_url(QUrl.fromLocalFile(str(result.path.parent))))
        else:
            box.setIcon(QMessageBox.Icon.Warning)
            box.setText(f"The problem report was not saved: {result}")
        box.addButton(QMessageBox.StandardButton.Close)
        self.result_box = box
        box.open()


def install_help_menu(window: Any, services: Services, **options: Any) -> HelpMenu:
    return HelpMenu(window, services, **options)
