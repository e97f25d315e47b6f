"""The core and the CLI never import Qt (checked statically and at run time)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import desktop_app

PACKAGE = Path(desktop_app.__file__).parent
QT_MODULES = ("PySide6", "shiboken6", "PyQt5", "PyQt6")
QT_FREE_FILES = (sorted((PACKAGE / "core").rglob("*.py"))
                 + sorted((PACKAGE / "cli").rglob("*.py")))


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_qt_import_anywhere_in_core_or_cli_source():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in QT_FREE_FILES
        for name in imported_modules(path)
        if name.split(".")[0] in QT_MODULES
    ]
    assert not offenders, "Qt leaked into the Qt-free layer:\n" + "\n".join(offenders)


def test_the_checker_catches_a_qt_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from PySide6.QtCore import QObject\n")
    assert "PySide6.QtCore" in imported_modules(bad)


def test_importing_every_core_module_and_the_cli_loads_no_qt():
    modules = [
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for path in QT_FREE_FILES
    ]
    modules = [m[: -len(".__init__")] if m.endswith(".__init__") else m for m in modules]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"leaked = [m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}]\n"
        "print(leaked)\n"
        "sys.exit(1 if leaked else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_window_process_starts_without_the_engine_or_network_stacks():
    """llama.cpp runs in the engine process; the window's own start-up imports none of it
    (nor jinja2, the Markdown renderer or the Hub client), so the window opens sooner."""
    heavy = ("llama_cpp", "jinja2", "numpy", "huggingface_hub", "httpx", "markdown_it",
             "pygments")
    code = (
        "import sys\n"
        "import desktop_app.cli, desktop_app.app, desktop_app.ui.main_window\n"
        f"print([m for m in sys.modules if m.split('.')[0] in {heavy!r}])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
