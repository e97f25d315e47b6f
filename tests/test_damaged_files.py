"""Settings and JSON files that are wrong in shape, too deep, too big, or in the way.

Each case once gave a traceback (in the CLI, the window or both). Now: a bad settings
value falls back to its default with one warning naming the key; a file that cannot be
used at all goes down its caller's "bad file" path (settings set aside, preset skipped,
policy read restrictively, catalog refused, records and caches treated as empty, chat
import refused); a folder that cannot be created is one sentence.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path

import pytest

from desktop_app.cli import main
from desktop_app.core.catalog import load_catalog
from desktop_app.core.chats import ChatStore, ChatStoreError
from desktop_app.core.chats import transfer
from desktop_app.core.chats.transfer import import_json, read_chat_file
from desktop_app.core.downloads.installed import InstalledStore
from desktop_app.core.errors import ConfigError, PresetError
from desktop_app.core.json_files import (MAX_DEPTH, JsonFileError, nesting_depth,
                                         parse_json_text, read_json_file)
from desktop_app.core.paths import FolderError, Paths
from desktop_app.core.policy import HashCache, load_policy
from desktop_app.core.preset_store import PresetStore
from desktop_app.core.resources import resource_path
from desktop_app.core.services import build_services
from desktop_app.core.settings import RULES, Settings, SettingsStore

DEEP = "[" * 100_000 + "]" * 100_000
BAD_VALUES = [("recent_models", [1, 2, None]), ("window_geometry", 12345),
              ("last_preset", ["code"]), ("hub_endpoint", 5), ("n_gpu_layers", "all")]


def write(path: Path, content: str | dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content),
                    encoding="utf-8")
    return path


def settings_file(home: Path) -> Path:
    return home / "config" / "settings.json"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse-style exits
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# -- 1. every settings key is checked by type and range ----------------------------------
@pytest.mark.parametrize("key, value", BAD_VALUES)
def test_a_bad_settings_value_falls_back_to_its_default_with_one_warning(
        scalpel_home, key, value):
    path = write(settings_file(scalpel_home), {key: value, "n_ctx": 2048, "future": [1]})
    store = SettingsStore(path)
    settings = store.load()
    assert getattr(settings, key) == getattr(Settings(), key)
    assert settings.n_ctx == 2048 and settings.extra == {"future": [1]}  # the rest is kept
    assert store.warning.count(f"'{key}'") == 1 and str(path) in store.warning
    assert path.exists() and not path.with_suffix(".json.bad").exists()  # not set aside


@pytest.mark.parametrize("key, value", BAD_VALUES)
def test_the_services_that_crashed_on_a_bad_value_now_work(scalpel_home, key, value):
    write(settings_file(scalpel_home), {key: value})
    services = build_services(Paths.under(scalpel_home))
    assert services.current_preset() is not None            # last_preset ["code"]: unhashable
    assert services.hub_client().endpoint.startswith("http")  # hub_endpoint 5: .rstrip
    assert services.load_options().n_gpu_layers is None       # n_gpu_layers "all": auto
    assert services.registry.list() is not None                # recent_models [1, 2, null]
    assert services.settings.window_geometry is None           # window_geometry 12345


@pytest.mark.parametrize("key, value", BAD_VALUES)
def test_the_cli_reports_a_bad_value_instead_of_a_traceback(scalpel_home, capsys, key, value):
    write(settings_file(scalpel_home), {key: value})
    code, out, _ = run_cli(capsys, "doctor")
    assert code == 0 and f"'{key}'" in out and "warning" in out
    code, _, err = run_cli(capsys, "presets", "list")
    assert code == 0 and f"'{key}'" in err


def test_every_setting_has_a_rule_and_every_rule_refuses_the_wrong_type():
    assert set(RULES) == {f.name for f in fields(Settings)} - {"extra"}
    for name, rule in RULES.items():
        assert rule.accepts(getattr(Settings(), name)), name   # the defaults pass
        for wrong in ({"a": 1}, True, math.nan, "x" * 5000):
            if rule.kind is bool and isinstance(wrong, bool):
                continue   # a switch: true is one of its two values
            assert not rule.accepts(wrong), (name, wrong)


@pytest.mark.parametrize("key, good, bad", [
    ("n_threads", None, 0), ("n_threads", 512, 513), ("n_ctx", 128, 127),
    ("n_gpu_layers", -1, -2), ("max_tokens", 1, 0), ("temperature", 0, 5.5),
    ("keep_models_loaded", 8, 9), ("last_chat_id", 3, "3"),
    ("splitter_sizes", [200, 600], [200, -1]),
    ("splitter_sizes", [1] * 8, [1] * 9), ("last_model", "/m/a.gguf", "  "),
    ("last_model", "smollm2", "a\x00b"), ("hub_endpoint", "https://mirror.corp", "mirror.corp"),
    ("hub_token", "hf_abc", "hf abc"), ("last_preset", "code", "Code!"),
    ("window_geometry", "AdnQywADAAA=", "not base64 é"),
    ("recent_models", ["/m/a.gguf"] * 10, ["/m/a.gguf"] * 11), ("temperature", 1, math.inf),
    ("embedding_model", "nomic-embed", "a\x00b"),
    ("proxy", "http://proxy.corp:3128", "proxy.corp:3128"),
    ("ca_bundle", "/etc/ssl/corp.pem", "corp.pem"), ("downloads_enabled", False, "no"),
])
def test_values_are_checked_against_their_range(scalpel_home, key, good, bad):
    path = settings_file(scalpel_home)
    store = SettingsStore(write(path, json.dumps({key: good})))
    assert getattr(store.load(), key) == good and store.warning is None
    store = SettingsStore(write(path, json.dumps({key: bad})))
    assert getattr(store.load(), key) == getattr(Settings(), key) and f"'{key}'" in store.warning


def test_several_bad_values_give_one_warning_naming_each(scalpel_home):
    store = SettingsStore(write(settings_file(scalpel_home),
                                {"n_ctx": 5, "n_gpu_layers": "all", "temperature": 0.3}))
    settings = store.load()
    assert (settings.n_ctx, settings.n_gpu_layers, settings.temperature) == (4096, None, 0.3)
    assert "'n_ctx'" in store.warning and "'n_gpu_layers'" in store.warning
    assert "4096" in store.warning and '"all"' in store.warning  # the default and the value
    assert "'temperature'" not in store.warning


def test_a_locked_setting_ignores_the_files_bad_value_and_keeps_it(scalpel_home):
    path = write(settings_file(scalpel_home), {"n_gpu_layers": "all", "max_tokens": 99})
    store = SettingsStore(path, locked={"n_gpu_layers": 4})
    settings = store.load()
    assert settings.n_gpu_layers == 4 and settings.max_tokens == 99
    assert store.warning is None  # the policy decides that value; the file's is not used
    store.save(settings)
    assert json.loads(path.read_text())["n_gpu_layers"] == "all"  # the person's own, untouched


# -- 2. depth and size are bounded for every JSON file Scalpel reads ------------------------
def test_a_deep_settings_file_is_set_aside(scalpel_home, capsys):
    path = write(settings_file(scalpel_home), DEEP)
    store = SettingsStore(path)
    assert store.load() == Settings()
    assert "nested 100,000 levels" in store.warning and "defaults are in use" in store.warning
    assert path.with_suffix(".json.bad").read_text() == DEEP and not path.exists()
    write(path, DEEP)
    code, out, err = run_cli(capsys, "presets", "list")
    assert code == 0 and "general" in out and "nested" in err


def test_a_huge_settings_file_is_set_aside_unread(scalpel_home):
    path = write(settings_file(scalpel_home), '{"pad": "' + "x" * 2_000_000 + '"}')
    store = SettingsStore(path)
    assert store.load() == Settings() and "MB" in store.warning
    assert path.with_suffix(".json.bad").exists()


def test_a_deep_preset_is_skipped_and_the_rest_load(scalpel_home, capsys):
    user_dir = scalpel_home / "config" / "presets"
    write(user_dir / "deep.json", DEEP)
    write(user_dir / "big.json", '{"id": "big", "name": "' + "x" * 3_000_000 + '"}')
    store = PresetStore(builtin_dir=resource_path("presets"), user_dir=user_dir)
    assert store.get("general") is not None
    assert any("deep.json" in p and "nested" in p for p in store.problems)
    assert any("big.json" in p and "MB" in p for p in store.problems)
    code, out, err = run_cli(capsys, "presets", "list")
    assert code == 0 and "general" in out and "deep.json" in err


def test_a_preset_too_deep_to_read_back_is_not_saved(scalpel_home):
    user_dir = scalpel_home / "config" / "presets"
    store = PresetStore(builtin_dir=resource_path("presets"), user_dir=user_dir)
    examples: list = [1]
    for _ in range(MAX_DEPTH):
        examples = [examples]
    preset = store.get("general").with_changes(id="deep", name="Deep", builtin=False,
                                               json_schema={"type": "string",
                                                            "examples": examples})
    with pytest.raises(PresetError, match="nested too deeply"):
        store.save(preset)
    assert not (user_dir / "deep.json").exists()


def test_a_schema_as_deep_as_the_checker_allows_is_saved_and_read_back(scalpel_home):
    user_dir = scalpel_home / "config" / "presets"
    store = PresetStore(builtin_dir=resource_path("presets"), user_dir=user_dir)
    schema: dict = {"type": "string"}
    for _ in range(32):
        schema = {"type": "object", "properties": {"a": schema}}
    store.save(store.get("general").with_changes(id="deep", name="Deep", builtin=False,
                                                 json_schema=schema))
    store.reload()
    assert store.get("deep").json_schema == schema and store.problems == []


def test_a_deep_policy_is_read_restrictively(tmp_path, capsys, monkeypatch):
    policy_file = write(tmp_path / "policy.json", DEEP)
    policy = load_policy(None, {"SCALPEL_POLICY": str(policy_file)})
    assert policy.allowed_models == () and not policy.downloads_allowed
    assert "nested" in policy.problems[0] and str(policy_file) in policy.problems[0]
    monkeypatch.setenv("SCALPEL_POLICY", str(policy_file))
    code, out, err = run_cli(capsys, "policy", "show")
    assert "nested" in out + err


def test_a_deep_or_huge_catalog_is_refused_with_a_sentence(tmp_path):
    with pytest.raises(ConfigError, match=r"deep\.json is nested 100,000 levels"):
        load_catalog(write(tmp_path / "deep.json", DEEP))
    with pytest.raises(ConfigError, match=r"huge\.json is .* MB"):
        load_catalog(write(tmp_path / "huge.json", " " * 5_000_000 + "{}"))


@pytest.mark.parametrize("content", [DEEP, "[1]", '{"models": [1]}', "{not json"])
def test_a_damaged_models_record_reads_as_empty_and_is_set_aside_on_write(tmp_path, content):
    store = InstalledStore(tmp_path)
    write(store.manifest, content)
    assert store.all() == [] and store.get(tmp_path / "a.gguf") is None
    store.record(tmp_path / "b.gguf", sha256="0" * 64, size=3, source="import")
    assert [e.path for e in store.all()] == ["b.gguf"]
    assert store.manifest.with_suffix(".json.bad").read_text() == content  # not overwritten


@pytest.mark.parametrize("entry", [
    5, [1], {"path": 7, "sha256": "x", "size": 1, "source": "hub"},
    {"path": "a.gguf", "sha256": "x", "size": True, "source": "hub"},
    {"path": "a.gguf", "sha256": "x", "source": "hub"}, {"path": "a\x00", "sha256": "x", "size": 1,
                                                        "source": "hub"},
])
def test_a_models_record_of_the_wrong_shape_is_skipped_and_kept(tmp_path, entry):
    store = InstalledStore(tmp_path)
    write(store.manifest, {"version": 1, "models": {"a.gguf": entry}})
    assert store.all() == [] and store.get(tmp_path / "a.gguf") is None
    store.record(tmp_path / "b.gguf", sha256="0" * 64, size=3, source="import")
    assert [e.path for e in store.all()] == ["b.gguf"]
    assert json.loads(store.manifest.read_text())["models"]["a.gguf"] == entry


def test_a_models_record_from_a_newer_scalpel_is_read(tmp_path):
    store = InstalledStore(tmp_path)
    write(store.manifest, {"version": 2, "models": {"a.gguf": {
        "path": "a.gguf", "sha256": "0" * 64, "size": 3, "source": "hub", "new_field": 1}}})
    assert store.get(tmp_path / "a.gguf").size == 3  # an unknown field once raised TypeError


@pytest.mark.parametrize("content", [DEEP, '{"%s": 5}', '{"%s": {"sha256": [1]}}', "[]"])
def test_a_damaged_digest_cache_only_costs_a_rehash(tmp_path, content):
    model = write(tmp_path / "m.gguf", "GGUF bytes")
    cache_file = write(tmp_path / "model-digests.json", content.replace("%s", str(model)))
    cache = HashCache(cache_file)
    assert cache.known(model) is None
    digest = cache.sha256(model)
    assert len(digest) == 64 and HashCache(cache_file).known(model) == digest


def test_a_deep_or_huge_chat_file_is_refused_with_a_sentence(tmp_path, monkeypatch):
    with pytest.raises(ChatStoreError, match=r"deep\.json could not be read .* nested"):
        read_chat_file(write(tmp_path / "deep.json", DEEP))
    monkeypatch.setattr(transfer, "MAX_BYTES_CHATS", 1000)
    with pytest.raises(ChatStoreError, match=r"big\.json could not be read .*(larger|more) than"):
        read_chat_file(write(tmp_path / "big.json", "[" + "1," * 1000 + "1]"))


def test_the_window_refuses_a_deep_chat_file_with_a_sentence(qtbot, tmp_path):
    from PySide6.QtWidgets import QWidget

    from desktop_app.ui.chat_files import ChatFiles

    parent = QWidget()
    qtbot.addWidget(parent)
    reports: list[str] = []
    store = ChatStore(tmp_path / "c.sqlite3")
    files = ChatFiles(parent, store, report=reports.append)
    assert files.import_file(str(write(tmp_path / "deep.json", DEEP))) == []
    assert len(reports) == 1 and "deep.json" in reports[0] and "nested" in reports[0]
    assert store.list_chats() == []


GOOD_MESSAGE = {"id": 1, "role": "user", "content": "hi", "created_at": 1.0}


@pytest.mark.parametrize("change, words", [
    ({"parent_id": [1]}, "'parent_id'"), ({"created_at": math.nan}, "'created_at'"),
    ({"created_at": 10**30}, "'created_at'"), ({"model": ["m"]}, "'model'"),
    ({"finished_at": "soon"}, "'finished_at'"), ({"id": True}, "'id'"),
])
def test_chat_imports_of_the_wrong_shape_change_nothing(tmp_path, change, words):
    store = ChatStore(tmp_path / "c.sqlite3")
    data = {"format": "scalpel-chat", "version": 1, "chat": {"title": "T"},
            "messages": [{**GOOD_MESSAGE, **change}]}
    with pytest.raises(ChatStoreError, match=words):
        import_json(store, data)
    for bad in ({"current_leaf_id": [1]}, {"chat": {"title": "T", "created_at": "x"}},
                {"messages": [GOOD_MESSAGE, GOOD_MESSAGE]}):
        with pytest.raises(ChatStoreError):
            import_json(store, {**data, "messages": [GOOD_MESSAGE], **bad})
    assert store.list_chats() == []
    imported = import_json(store, {**data, "messages": [GOOD_MESSAGE]})  # no parent_id: a root
    assert [m.content for m in store.all_messages(imported.id)] == ["hi"]


# -- the shared reader itself ---------------------------------------------------------------
def test_depth_ignores_brackets_inside_strings():
    assert nesting_depth('{"a": "[[[[\\"[[[", "b": [[1]]}') == 3
    assert nesting_depth("") == 0
    text = json.dumps({"k": "[" * 1000})
    assert parse_json_text(text, path=Path("x.json"), max_depth=2) == {"k": "[" * 1000}
    too_deep = MAX_DEPTH + 1
    with pytest.raises(JsonFileError, match=f"nested {too_deep} levels"):
        parse_json_text("[" * too_deep + "]" * too_deep, path=Path("x.json"))
    assert parse_json_text("[" * MAX_DEPTH + "]" * MAX_DEPTH, path=Path("x.json")) is not None


def test_the_reader_never_reads_past_its_limit_and_names_the_file(tmp_path):
    with pytest.raises(JsonFileError, match="/dev/zero is larger than"):
        read_json_file(Path("/dev/zero"), max_bytes=1000)  # reports size 0, never ends
    bom = write(tmp_path / "bom.json", "\ufeff{\"a\": 1}")
    assert read_json_file(bom, max_bytes=100) == {"a": 1}
    digits = write(tmp_path / "digits.json", "1" * 5000)
    with pytest.raises(JsonFileError, match="digits.json is not valid JSON"):
        read_json_file(digits, max_bytes=10_000)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"a": "\xe9"}')
    with pytest.raises(JsonFileError, match="latin.json is not UTF-8"):
        read_json_file(latin, max_bytes=100)
    with pytest.raises(JsonFileError, match="folder"):
        read_json_file(tmp_path, max_bytes=100)
    with pytest.raises(JsonFileError) as missing:
        read_json_file(tmp_path / "absent.json", max_bytes=100)
    assert missing.value.missing


# -- 3. a config folder that cannot be created ----------------------------------------------
def test_a_folder_under_a_file_is_a_sentence(tmp_path, capsys, monkeypatch):
    blocker = write(tmp_path / "file", "I am a file")
    with pytest.raises(FolderError) as error:
        Paths.under(blocker / "home").ensure()
    assert f"{blocker} is a file, not a folder" in str(error.value)
    assert "SCALPEL_HOME" in str(error.value)
    write(tmp_path / "home" / "config", "a file where the config folder goes")
    with pytest.raises(FolderError, match="config folder .* a file with that name is in the way"):
        Paths.under(tmp_path / "home").ensure()
    monkeypatch.setenv("SCALPEL_HOME", str(blocker / "home"))
    code, _, err = run_cli(capsys, "doctor")
    assert code == 1 and str(blocker) in err and len(err.strip().splitlines()) == 1


DEEP = "[" * 100_000 + "]" * 100_000


def test_a_deep_or_odd_download_record_is_ignored_not_a_crash(services):
    """Unfinished-download records (<data>/downloads/<sha>.json) are JSON Scalpel reads too."""
    from desktop_app.core.downloads.hub import RemoteFile
    from desktop_app.core.downloads.transfer import PartialFile

    work = services.downloads_dir
    work.mkdir(parents=True, exist_ok=True)
    (work / "deep.json").write_text(DEEP)
    (work / "list.json").write_text("[1, 2]")
    (work / "good.json").write_text(json.dumps(
        {"remote": {"repo": "o/r", "filename": "m.gguf", "revision": "main"}}))
    manager = services.new_download_manager()
    try:
        assert [r.filename for r in manager.pending()] == ["m.gguf"]
    finally:
        manager.shutdown()
    remote = RemoteFile("o/r", "m.gguf", "main", None, "http://127.0.0.1:9/m", 10, "ab" * 32)
    partial = PartialFile(work, remote, services.paths.models_dir / "m.gguf")
    partial.record.write_text(DEEP)
    partial.part.write_bytes(b"12345")
    assert partial.open_for_resume() == 0  # not its record: start afresh, no RecursionError


def test_a_deep_schema_typed_in_the_preset_editor_is_refused_with_a_sentence(qtbot, services):
    from gui_helpers import set_field

    from desktop_app.ui.preset_editor import PresetEditorDialog

    editor = PresetEditorDialog(services.presets, services.catalog)
    qtbot.addWidget(editor)
    editor.new_preset()
    set_field(editor, "json_schema", '{"a": ' + DEEP + "}")
    assert editor.save() is None
    assert "nested 100,001 levels deep" in editor.error_text()
    set_field(editor, "json_schema", "")
    assert editor.save() is not None
