"""Layer rules, checked statically and at run time: the core and the CLI never import Qt;
only the engine's ``llama_api`` module touches llama-cpp-python; the window's process
never loads llama.cpp."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import desktop_app

PACKAGE = Path(desktop_app.__file__).parent
QT_MODULES = ("PySide6", "shiboken6", "PyQt5", "PyQt6")
QT_FREE_FILES = (sorted((PACKAGE / "core").rglob("*.py"))
                 + sorted((PACKAGE / "cli").rglob("*.py")))


def imported_modules(path: Path) -> set[str]:
    """Absolute imports: statements, ``importlib.import_module("x")`` and ``__import__("x")``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif (isinstance(node, ast.Call) and _called_name(node.func) in DYNAMIC_IMPORTS
              and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            names.add(node.args[0].value)
    return names


DYNAMIC_IMPORTS = ("import_module", "__import__")


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


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


# -- llama-cpp-python behind one module -------------------------------------------------------

ENGINE = PACKAGE / "core" / "engine"
LLAMA_API = ENGINE / "llama_api.py"
PACKAGE_FILES = sorted(PACKAGE.rglob("*.py"))
LLAMA_PRIVATE = frozenset({"_ctx", "_model", "_internals"})


def llama_private_uses(path: Path) -> list[str]:
    """Where ``path`` reaches into llama-cpp-python's private members: ``x._ctx``,
    ``x._model``, ``x._internals``, ``_internals`` imported or named, or any of them as a
    string (``getattr(llama, "_ctx")``). ``self._model`` and ``self._ctx`` are a class's own
    attributes (LlamaEngine's ``_model`` is its LoadedModel), not llama-cpp-python's."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in LLAMA_PRIVATE:
            if not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.alias) and "_internals" in (node.name.split(".")[-1],
                                                               node.asname):
            found.append(f"line {node.lineno}: imports {node.name}")
        elif isinstance(node, ast.Name) and node.id == "_internals":
            found.append(f"line {node.lineno}: _internals")
        elif isinstance(node, ast.Constant) and node.value in LLAMA_PRIVATE:
            found.append(f"line {node.lineno}: {node.value!r}")
    return found


def test_only_the_engines_llama_api_module_imports_llama_cpp():
    """Outside desktop_app/core/engine nothing imports llama_cpp (hardware.py and the
    doctor ask the engine package), and inside it only llama_api.py does."""
    importers = sorted(str(path.relative_to(PACKAGE.parent)) for path in PACKAGE_FILES
                       if any(name.split(".")[0] == "llama_cpp"
                              for name in imported_modules(path)))
    assert importers == [str(LLAMA_API.relative_to(PACKAGE.parent))]


def test_only_llama_api_reaches_into_llama_cpp_pythons_private_members():
    offenders = [f"{path.relative_to(PACKAGE.parent)} {use}"
                 for path in PACKAGE_FILES if path != LLAMA_API
                 for use in llama_private_uses(path)]
    assert not offenders, "llama-cpp-python internals outside llama_api.py:\n" + \
        "\n".join(offenders)
    assert llama_private_uses(LLAMA_API)  # the checker sees the ones that are there


def test_the_checkers_catch_llama_cpp_imports_and_private_members(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(textwrap.dedent("""\
        import importlib
        from llama_cpp import _internals as internals
        def f(llama, engine):
            import llama_cpp.llama_grammar
            importlib.import_module("llama_cpp")
            return llama._ctx, engine.llama._model, getattr(llama, "_ctx"), self._model
        """))
    assert {"llama_cpp", "llama_cpp.llama_grammar"} <= imported_modules(bad)
    assert llama_private_uses(bad) == [
        "line 2: imports _internals", "line 6: ._ctx", "line 6: ._model", "line 6: '_ctx'"]
    fine = tmp_path / "fine.py"
    fine.write_text("class E:\n    def f(self):\n        return self._model, _internals_reason\n")
    assert llama_private_uses(fine) == []


WINDOW_SESSION = """
import json, sys, time
from pathlib import Path

from PySide6.QtCore import QEventLoop, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from desktop_app.app import create_window
from desktop_app.core.paths import Paths
from desktop_app.core.services import build_services

app = QApplication([])
services = build_services(Paths.under(Path(sys.argv[1])))
window = create_window(services)
window.show()
seen = {"loaded": [], "finished": [], "failed": []}
window.bridge.model_loaded.connect(seen["loaded"].append)
window.bridge.model_load_failed.connect(lambda path, why: seen["failed"].append(why))
window.bridge.reply_finished.connect(seen["finished"].append)
window.bridge.reply_failed.connect(seen["failed"].append)


def wait_for(done, seconds, what):
    deadline = time.monotonic() + seconds
    while not done():
        if seen["failed"] or time.monotonic() > deadline:
            sys.exit(f"no {what}: {seen['failed'] or 'timed out'}")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        QTest.qWait(10)


window.start()
wait_for(lambda: seen["loaded"], 120, "model")
window.select_preset("json")
window.prompt.setPlainText("Maria Lopez flew from Madrid to Oslo on 2 May for Nordic Oil.")
QTest.keyClick(window.prompt, Qt.Key.Key_Return)
wait_for(lambda: seen["finished"] and not window.chat.answering, 300, "answer")
preset = services.presets.get("json")
saved = services.presets.save(preset.with_changes(id="my-json", name="My JSON extraction",
                                                  builtin=False, path=None))
maps = Path("/proc/self/maps")
mapped = sorted({line.split()[-1] for line in maps.read_text().splitlines()
                 if "libllama" in line or "libggml" in line}) if maps.exists() else None
print(json.dumps({"preset": window.chat.preset.id, "answer": seen["finished"][0].text,
                  "saved": saved.id, "schema": saved.json_schema is not None,
                  "llama_cpp": sorted(m for m in sys.modules if m.split(".")[0] == "llama_cpp"),
                  "mapped": mapped}))
window.close()  # ends the engine process
app.processEvents()
"""


@pytest.mark.model
def test_a_json_task_answered_and_a_preset_saved_leave_llama_cpp_out_of_the_window(tmp_path):
    """The window answers with a JSON-schema preset (its grammar is made in the engine
    process) and saves a preset with a schema (checked in Python), and its own process
    neither imports llama_cpp nor maps libllama / libggml."""
    result = subprocess.run(
        [sys.executable, "-c", WINDOW_SESSION, str(tmp_path / "home")],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["preset"] == "json"
    assert {"title", "people", "places"} <= set(json.loads(report["answer"]))
    assert (report["saved"], report["schema"]) == ("my-json", True)
    assert report["llama_cpp"] == []
    if sys.platform.startswith("linux"):
        assert report["mapped"] == []
