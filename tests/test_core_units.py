"""Fast unit tests of the Qt-free core: paths, settings, threads, models, stops."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from desktop_app.core import hardware
from desktop_app.core.engine.prompt import StopMatcher
from desktop_app.core.errors import ModelNotFoundError
from desktop_app.core.models import STARTER_ID, ModelRegistry, model_id_for
from desktop_app.core.paths import Paths
from desktop_app.core.settings import Settings, SettingsStore


# -- paths -------------------------------------------------------------------
def test_scalpel_home_holds_everything(tmp_path):
    paths = Paths.from_environment({"SCALPEL_HOME": str(tmp_path)}).ensure()
    for directory in (paths.config_dir, paths.data_dir, paths.cache_dir, paths.log_dir,
                      paths.models_dir):
        assert directory.is_dir() and tmp_path in directory.parents


def test_without_scalpel_home_platformdirs_decides(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    paths = Paths.from_environment({})
    assert paths.config_dir.name == "Scalpel"


# -- settings ----------------------------------------------------------------
def test_settings_round_trip_and_keep_unknown_keys(tmp_path):
    store = SettingsStore(tmp_path / "settings.json")
    store.path.write_text(json.dumps({"n_ctx": 2048, "future_key": [1, 2]}))
    settings = store.load()
    assert settings.n_ctx == 2048
    settings.remember_model("/models/a.gguf")
    store.save(settings)
    saved = json.loads(store.path.read_text())
    assert saved["future_key"] == [1, 2] and saved["recent_models"] == ["/models/a.gguf"]


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])  # bad values: test_damaged_files
def test_a_damaged_settings_file_is_set_aside_with_a_warning(tmp_path, content):
    store = SettingsStore(tmp_path / "settings.json")
    store.path.write_text(content)
    assert store.load() == Settings()
    assert store.warning and "defaults are in use" in store.warning
    assert (tmp_path / "settings.json.bad").read_text() == content


def test_recent_models_are_deduplicated_and_bounded():
    settings = Settings()
    for i in range(15):
        settings.remember_model(f"/m/{i % 12}.gguf")
    assert settings.recent_models[0] == "/m/2.gguf"
    assert len(settings.recent_models) == len(set(settings.recent_models)) == 10


# -- threads -----------------------------------------------------------------
@pytest.mark.parametrize("physical, logical, usable, expected", [
    (1, 1, 1, 1), (2, 2, 2, 2), (2, 4, 4, 2), (4, 8, 8, 4), (8, 16, 2, 2), (6, 12, 12, 6),
])
def test_threads_use_the_usable_physical_cores(physical, logical, usable, expected):
    """With nothing else busy (more cases, busy programs: tests/test_hardware.py)."""
    cpu = hardware.CpuInfo(logical=logical, physical=physical, usable=usable)
    assert hardware.choose_threads(cpu) == expected
    assert hardware.choose_threads(cpu, override=3) == 3


def test_this_machine_is_read_sensibly():
    cpu = hardware.cpu_info()
    assert 1 <= cpu.physical <= cpu.logical and 1 <= cpu.usable <= cpu.logical
    from_proc = hardware._physical_cores_from_proc()
    if Path("/proc/cpuinfo").exists():
        assert from_proc is not None and 1 <= from_proc <= cpu.logical


# -- models ------------------------------------------------------------------
def test_model_ids_are_readable_slugs():
    assert model_id_for(Path("Qwen2.5-0.5B-Instruct.Q4_K_M.gguf")) == "qwen2-5-0-5b-instruct-q4-k-m"


def test_registry_lists_the_starter_library_and_opened_files(tmp_path, smollm2_path):
    library = tmp_path / "models"
    (library / "sub").mkdir(parents=True)
    (library / "sub" / "Tiny.gguf").write_bytes(b"GGUF")
    opened = tmp_path / "elsewhere.gguf"
    opened.write_bytes(b"GGUF")
    registry = ModelRegistry(library, opened_paths=[str(opened), "/gone/away.gguf"])
    refs = registry.list()
    assert [r.source for r in refs] == ["starter", "library", "opened"]
    assert refs[0].id == STARTER_ID and refs[0].path == smollm2_path
    assert registry.resolve("tiny").path == library / "sub" / "Tiny.gguf"
    assert registry.resolve(str(smollm2_path)).id == STARTER_ID


def test_resolving_unknown_models_explains(tmp_path):
    registry = ModelRegistry(tmp_path, include_starter=False)
    with pytest.raises(ModelNotFoundError, match="model file not found"):
        registry.resolve(str(tmp_path / "nope.gguf"))
    with pytest.raises(ModelNotFoundError, match="no model with id"):
        registry.resolve("mystery")
    with pytest.raises(ModelNotFoundError, match="is a folder"):
        registry.resolve(str(tmp_path))


# -- stop strings ------------------------------------------------------------
def feed_all(matcher: StopMatcher, chunks: list[str]) -> tuple[str, bool]:
    shown = []
    for chunk in chunks:
        text, hit = matcher.feed(chunk)
        shown.append(text)
        if hit:
            return "".join(shown), True
    return "".join(shown) + matcher.flush(), False


def test_stop_string_split_across_chunks_is_never_shown():
    assert feed_all(StopMatcher(("<|im_end|>",)), ["Hi", " there<|im", "_end|>more"]) == (
        "Hi there", True)


def test_held_back_text_is_released_when_it_is_not_a_stop():
    matcher = StopMatcher(("<|im_end|>",))
    assert matcher.feed("a <|i") == ("a ", False)
    assert matcher.feed("s fine") == ("<|is fine", False)
    assert feed_all(StopMatcher(("<|im_end|>",)), ["x <", "|im"]) == ("x <|im", False)


def test_no_stops_passes_everything_through():
    assert StopMatcher(()).feed("anything <|im_end|>") == ("anything <|im_end|>", False)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_the_settings_file_holding_a_hub_token_is_readable_by_its_owner_only(tmp_path):
    from desktop_app.core.settings import Settings, SettingsStore

    path = tmp_path / "settings.json"
    path.write_text("{}", encoding="utf-8")
    path.chmod(0o644)                                  # an older file, world-readable
    store = SettingsStore(path)
    store.save(Settings(hub_token="hf_" + "a" * 34))
    assert path.stat().st_mode & 0o777 == 0o600
    assert store.load().hub_token == "hf_" + "a" * 34
