"""Services: the cached model listing, the settings service, DownloadRequest.for_entry."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import pytest

from desktop_app.core.catalog import load_catalog
from desktop_app.core.downloads.manager import DownloadRequest
from desktop_app.core.errors import (ConfigError, InvalidSettingError, SettingLockedError,
                                     SettingsSaveError)
from desktop_app.core.model_listing import ModelListing
from desktop_app.core.models import STARTER_ID, ModelRegistry
from desktop_app.core.paths import Paths
from desktop_app.core.services import build_services
from desktop_app.core.settings import SettingsStore
from desktop_app.core.settings_service import SettingsService
from gui_helpers import LOAD_TIMEOUT_MS, started


class CountingRegistry(ModelRegistry):
    """A registry that records each walk: how many, on which thread, how many at once."""

    def __init__(self, *args, delay: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.threads: list[threading.Thread] = []
        self.delay, self.busy, self.most_at_once = delay, 0, 0
        self._count_lock = threading.Lock()

    def list(self):
        with self._count_lock:
            self.threads.append(threading.current_thread())
            self.busy += 1
            self.most_at_once = max(self.most_at_once, self.busy)
        try:
            time.sleep(self.delay)
            return super().list()
        finally:
            with self._count_lock:
                self.busy -= 1


def gguf(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF")
    return path


@pytest.fixture
def models_dir(tmp_path):
    folder = tmp_path / "models"
    gguf(folder / "a" / "Alpha.gguf")
    gguf(folder / "b" / "Beta.gguf")
    return folder


# -- the model listing ------------------------------------------------------------------------

def test_the_listing_walks_once_and_answers_from_memory(models_dir):
    registry = CountingRegistry(models_dir, include_starter=False)
    listing = ModelListing(registry, verdict=lambda ref: ref.name != "Beta")
    assert [m.name for m in listing.models()] == ["Alpha", "Beta"]  # first use lists once
    for _ in range(5):
        listing.models(), listing.usable(), listing.refused_paths(), listing.find(models_dir)
        listing.resolve("alpha")
    assert len(registry.threads) == 1
    assert [m.name for m in listing.usable()] == ["Alpha"]
    assert listing.refused_paths() == {str(models_dir / "b" / "Beta.gguf")}
    assert [e.to_dict()["allowed"] for e in listing.entries()] == [True, False]

    gguf(models_dir / "c" / "Gamma.gguf")
    assert "Gamma" not in [m.name for m in listing.models()]  # no walk behind the caller's back
    assert listing.refresh() is True and len(registry.threads) == 2
    assert "Gamma" in [m.name for m in listing.models()]


def test_listeners_hear_changes_only(models_dir):
    listing = ModelListing(ModelRegistry(models_dir, include_starter=False), lambda ref: True)
    heard: list[int] = []
    unsubscribe = listing.subscribe(lambda: heard.append(len(listing.models())))
    listing.refresh()
    listing.refresh()                      # the same files: nothing to tell
    assert heard == [2]
    (models_dir / "a" / "Alpha.gguf").unlink()
    listing.refresh()
    assert heard == [2, 1]
    unsubscribe()
    gguf(models_dir / "d" / "Delta.gguf")
    listing.refresh()
    assert heard == [2, 1]


def test_include_and_forget_change_the_listing_without_walking(models_dir, tmp_path):
    registry = CountingRegistry(models_dir, include_starter=False)
    listing = ModelListing(registry, lambda ref: True)
    listing.refresh()
    opened = listing.resolve(str(gguf(tmp_path / "elsewhere" / "Opened.gguf")))
    assert opened.source == "opened"
    assert listing.include(opened) is True and listing.include(opened) is False
    assert listing.forget(models_dir / "a" / "Alpha.gguf") is True
    assert [m.name for m in listing.models()] == ["Beta", "Opened"]
    assert len(registry.threads) == 1


def test_refreshes_from_many_threads_walk_one_at_a_time(models_dir):
    registry = CountingRegistry(models_dir, include_starter=False, delay=0.02)
    listing = ModelListing(registry, lambda ref: True)
    workers = [threading.Thread(target=listing.refresh) for _ in range(6)]
    for worker in workers:
        worker.start()
    while any(w.is_alive() for w in workers):
        assert len(listing.models()) in (0, 2)  # readers never see half a listing
        time.sleep(0.005)
    assert registry.most_at_once == 1 and len(registry.threads) >= 6


def test_an_unreadable_folder_keeps_the_last_listing(models_dir, monkeypatch):
    registry = ModelRegistry(models_dir, include_starter=False)
    listing = ModelListing(registry, lambda ref: True)
    listing.refresh()

    def broken():
        raise PermissionError(13, "Permission denied", str(models_dir))
    monkeypatch.setattr(registry, "list", broken)
    assert listing.refresh() is False and len(listing.models()) == 2


def test_services_answer_model_questions_from_the_listing(services, monkeypatch):
    calls: list[str] = []
    real_list = services.registry.list
    monkeypatch.setattr(services.registry, "list", lambda: calls.append("walk") or real_list())
    assert services.default_model().id == STARTER_ID
    services.usable_models(), services.no_model_reason(), services.models.resolve(STARTER_ID)
    assert calls == ["walk"]


def test_the_policys_verdict_is_taken_while_listing(scalpel_home, tmp_path, write_policy):
    system = tmp_path / "etc-scalpel"
    write_policy(system, {"allowed_models": ["sha256:" + "a" * 64]})
    services = build_services(replace(Paths.under(scalpel_home), system_config_dir=system), {})
    starter = services.models.resolve(STARTER_ID)
    assert services.models.refused_paths() == {str(starter.path)}
    assert services.usable_models() == [] and services.default_model() is None
    assert "is on your organization's list of allowed models" in services.no_model_reason()


# -- the settings service -----------------------------------------------------------------------

@pytest.fixture
def settings_service(tmp_path):
    store = SettingsStore(tmp_path / "config" / "settings.json")
    return SettingsService(store, store.load())


def test_update_validates_saves_and_notifies(settings_service):
    heard: list[frozenset[str]] = []
    settings_service.subscribe(heard.append)
    changed = settings_service.update(keep_models_loaded=3, temperature=1, last_preset="code")
    assert changed == {"keep_models_loaded", "temperature", "last_preset"} and heard == [changed]
    saved = json.loads(settings_service.store.path.read_text())
    assert saved["keep_models_loaded"] == 3 and saved["temperature"] == 1.0
    assert isinstance(settings_service.settings.temperature, float)
    assert not list(settings_service.store.path.parent.glob("*.tmp"))  # written atomically

    settings_service.store.path.unlink()
    assert settings_service.update(keep_models_loaded=3) == frozenset()  # nothing new
    assert heard == [changed] and not settings_service.store.path.exists()


@pytest.mark.parametrize("changes, fragment", [
    ({"keep_models_loaded": 0}, "'keep_models_loaded' must be a whole number from 1 to 8, not 0"),
    ({"n_ctx": "big"}, "'n_ctx' must be"),
    ({"last_preset": "Not an id!"}, 'a preset id like "code"'),
    ({"recent_models": [1, 2]}, "model file paths"),
    ({"no_such_setting": 1}, "there is no setting called 'no_such_setting'"),
])
def test_a_bad_value_changes_nothing(settings_service, changes, fragment):
    heard = []
    settings_service.subscribe(heard.append)
    before = replace(settings_service.settings)
    with pytest.raises(InvalidSettingError) as caught:
        settings_service.update(temperature=0.1, **changes)  # all or nothing
    assert fragment in str(caught.value)
    assert settings_service.settings == before and heard == []
    assert not settings_service.store.path.exists()


def test_a_locked_setting_is_refused(tmp_path):
    store = SettingsStore(tmp_path / "settings.json", locked={"keep_models_loaded": 1})
    policy_file = tmp_path / "etc" / "policy.json"
    service = SettingsService(store, store.load(), policy_file=policy_file)
    with pytest.raises(SettingLockedError) as caught:
        service.update(keep_models_loaded=4)
    assert "set by your organization's policy" in str(caught.value)
    assert str(policy_file) in str(caught.value)
    assert service.settings.keep_models_loaded == 1 and not store.path.exists()


def test_a_failed_save_is_a_sentence_and_the_change_holds_for_this_run(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    store = SettingsStore(blocker / "settings.json")   # its folder cannot be made
    service = SettingsService(store, store.load())
    heard = []
    service.subscribe(heard.append)
    with pytest.raises(SettingsSaveError) as caught:
        service.update(keep_models_loaded=2)
    message = str(caught.value)
    assert isinstance(caught.value, ConfigError)
    assert message.startswith("could not save your settings to ") and str(store.path) in message
    assert "applies until Scalpel closes" in message and "Traceback" not in message
    assert service.settings.keep_models_loaded == 2 and heard == [{"keep_models_loaded"}]


def test_remembering_an_opened_model_keeps_it_listed(services, tmp_path):
    path = gguf(tmp_path / "mine" / "Mine.gguf")
    ref = services.models.resolve(str(path))
    assert services.remember_model(ref) is True
    assert services.registry.opened_paths == [str(path)]  # told by the settings service
    assert services.models.find(path) is not None
    saved = json.loads(services.paths.settings_file.read_text())
    assert saved["last_model"] == str(path) and saved["recent_models"] == [str(path)]


# -- DownloadRequest.for_entry ---------------------------------------------------------------------

def test_a_download_request_for_a_catalog_entry():
    entry = load_catalog().get("smollm2-135m-instruct")
    request = DownloadRequest.for_entry(entry)
    assert request == DownloadRequest(entry.repo, entry.filename, revision=entry.revision,
                                      expected_sha256=entry.sha256, catalog_id=entry.id)
    assert DownloadRequest.for_entry(entry, revision="abc123").revision == "abc123"


# -- the window: no folder walk on the GUI thread ------------------------------------------------

def test_the_window_lists_models_off_the_gui_thread(qtbot, open_window, services, smollm2_copy,
                                                   monkeypatch):
    walks: list[threading.Thread] = []
    real_list = services.registry.list
    monkeypatch.setattr(services.registry, "list",
                        lambda: walks.append(threading.current_thread()) or real_list())
    window = started(qtbot, open_window())                      # a window start
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=LOAD_TIMEOUT_MS):
        window.open_model_file(str(smollm2_copy))               # a new file loaded
    assert window.listing.wait(30)
    qtbot.waitUntil(lambda: str(smollm2_copy) in window.models_menu.model_actions)
    window.select_preset("translate")                           # a task switch
    window.refresh_models()
    window._display_name(str(smollm2_copy))
    assert window.listing.wait(30)
    assert threading.main_thread() not in walks, [t.name for t in walks]
    assert len(walks) == 2  # the start, and the newly opened file


def test_a_failed_settings_save_is_shown_when_the_person_asked(qtbot, open_window, services,
                                                               monkeypatch):
    window = open_window()

    def full(_settings):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(services.settings_store, "save", full)
    kept: list[int] = []
    monkeypatch.setattr(window.bridge, "set_keep_loaded", kept.append)
    window.models_menu.keep_actions[2].trigger()
    assert "could not save your settings" in window.errors.message()
    assert "No space left on device" in window.errors.message()
    assert services.settings.keep_models_loaded == 2 and kept == [2]  # holds for this run
