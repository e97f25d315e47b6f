"""The organization's policy: parsing, restrictive readings, and enforcement in core."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from desktop_app.core.engine import LlamaEngine, LoadOptions
from desktop_app.core.errors import DownloadsDisabledError, ModelNotAllowedError
from desktop_app.core.models import STARTER_SHA256
from desktop_app.core.paths import Paths
from desktop_app.core.policy import HashCache, ModelGate, Policy, load_policy, read_policy_file
from desktop_app.core.services import build_services
from desktop_app.core.settings import Settings, SettingsStore


@pytest.fixture
def services_with(scalpel_home, tmp_path, write_policy):
    """Build services whose machine-wide config folder holds ``policy``."""
    def build(policy: dict | str):
        system = tmp_path / "etc-scalpel"
        write_policy(system, policy)
        return build_services(replace(Paths.under(scalpel_home), system_config_dir=system), {})

    return build


# -- reading the file ---------------------------------------------------------------------------

def test_no_file_means_unmanaged(tmp_path):
    policy = load_policy(tmp_path / "nothing-here", {})
    assert not policy.managed and policy.allowed_models is None and policy.downloads_allowed


def test_a_valid_file_is_read_with_its_sources(tmp_path, write_policy):
    path = write_policy(tmp_path, {
        "version": 1, "allowed_models": ["smollm2-135m-instruct", f"sha256:{'A' * 64}"],
        "model_dirs": ["/srv/models"], "downloads_allowed": False,
        "hub_endpoint": "https://hub.example.corp/", "proxy": "http://proxy.corp:3128",
        "ca_bundle": "/etc/ssl/corp.pem", "default_preset": "code",
        "presets_dir": "/srv/presets", "locked_settings": {"n_threads": 2, "n_ctx": 2048}})
    policy = load_policy(tmp_path, {})
    assert policy.problems == ()
    assert policy.allowed_models == ("smollm2-135m-instruct", "sha256:" + "a" * 64)
    assert policy.model_dirs == (Path("/srv/models"),)
    assert policy.hub_endpoint == "https://hub.example.corp"
    assert policy.locked_settings == {"n_threads": 2, "n_ctx": 2048}
    assert policy.source_of("proxy") == str(path)
    assert policy.describe()["values"]["hub_endpoint"]["source"] == str(path)


def test_the_env_override_wins_and_must_exist(tmp_path, write_policy):
    chosen = write_policy(tmp_path / "chosen", {"downloads_allowed": False})
    write_policy(tmp_path / "system", {})
    assert load_policy(tmp_path / "system", {"SCALPEL_POLICY": str(chosen)}).file == chosen
    missing = load_policy(None, {"SCALPEL_POLICY": str(tmp_path / "gone.json")})
    assert missing.allowed_models == () and not missing.downloads_allowed
    assert "does not exist" in missing.problems[0]


@pytest.mark.parametrize("text, fragment", [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    (b"\xff\xfe".decode("latin-1"), "is not valid JSON"),
])
def test_an_unreadable_file_locks_everything_down(tmp_path, text, fragment, write_policy):
    policy = read_policy_file(write_policy(tmp_path, text))
    assert policy.managed and policy.allowed_models == () and not policy.downloads_allowed
    assert fragment in policy.problems[0] and "no model can be loaded" in policy.problems[0]


def test_bad_keys_get_their_restrictive_reading_and_name_the_key(tmp_path, write_policy):
    policy = read_policy_file(write_policy(tmp_path, {
        "allowed_models": "smollm2", "downloads_allowed": "yes", "proxy": "proxy.corp",
        "locked_settings": {"n_threads": 0, "colour": "red"}, "alowed_models": []}))
    text = "\n".join(policy.problems)
    assert policy.allowed_models == () and not policy.downloads_allowed
    assert policy.locked_settings == {}
    for key in ("'allowed_models'", "'downloads_allowed'", "'proxy'", "'n_threads' must be",
                "'colour' cannot be locked", "'alowed_models': unknown key"):
        assert key in text


def test_any_problem_closes_keys_the_file_leaves_out(tmp_path, write_policy):
    policy = read_policy_file(write_policy(tmp_path, {"model_dirs": ["relative/dir"]}))
    assert policy.model_dirs == ()
    assert policy.allowed_models == () and not policy.downloads_allowed
    assert policy.source_of("allowed_models").startswith("restricted")


def test_a_bad_network_setting_turns_downloads_off(tmp_path, write_policy):
    policy = read_policy_file(write_policy(tmp_path, {
        "allowed_models": None, "downloads_allowed": True, "hub_endpoint": "ftp://mirror"}))
    assert not policy.downloads_allowed


def test_a_newer_format_is_a_problem(tmp_path, write_policy):
    policy = read_policy_file(write_policy(tmp_path, {"version": 2, "allowed_models": []}))
    assert any("policy version 1" in p for p in policy.problems)


# -- the allow-list ------------------------------------------------------------------------------

def test_the_gate_judges_files_by_their_bytes(tmp_path, smollm2_path, smollm2_copy, write_policy):
    from desktop_app.core.catalog import load_catalog

    catalog = load_catalog()
    by_id = ModelGate(Policy(allowed_models=("smollm2-135m-instruct",), file=tmp_path),
                      catalog, cache=HashCache(tmp_path / "digests.json"))
    by_id.check(smollm2_path)
    renamed = tmp_path / "innocent-name.gguf"
    renamed.symlink_to(smollm2_copy)
    with pytest.raises(ModelNotAllowedError, match="not on your organization's list"):
        by_id.check(renamed)
    assert by_id.verdict_without_reading(smollm2_copy) is False  # hashed once, now cached
    assert json.loads((tmp_path / "digests.json").read_text())
    nothing = ModelGate(Policy(allowed_models=(), file=tmp_path), catalog)
    with pytest.raises(ModelNotAllowedError, match="not on your organization's list"):
        nothing.check(smollm2_path)
    broken = ModelGate(read_policy_file(write_policy(tmp_path / "broken", "{")), catalog)
    with pytest.raises(ModelNotAllowedError, match="policy file has problems"):
        broken.check(smollm2_path)
    assert ModelGate(Policy.unmanaged(), catalog).verdict_without_reading(smollm2_copy)


def test_a_changed_file_is_hashed_again(tmp_path, smollm2_path):
    cache = HashCache(tmp_path / "digests.json")
    copy = tmp_path / "m.gguf"
    copy.write_bytes(b"GGUF" + b"\0" * 100)
    first = cache.sha256(copy)
    copy.write_bytes(b"GGUF" + b"\1" * 100)
    assert cache.known(copy) is None and cache.sha256(copy) != first


def test_ids_without_a_known_digest_are_reported(tmp_path):
    from desktop_app.core.catalog import load_catalog

    gate = ModelGate(Policy(allowed_models=("no-such-model",), file=tmp_path), load_catalog())
    assert "not in this Scalpel's catalog" in gate.unresolved[0]


def test_the_engine_refuses_a_model_the_policy_does_not_allow(tmp_path, smollm2_path):
    gate = ModelGate(Policy(allowed_models=("sha256:" + "0" * 64,), file=tmp_path / "p.json"))
    engine = LlamaEngine(gate=gate)
    with pytest.raises(ModelNotAllowedError, match="ask your IT department"):
        engine.load(smollm2_path, LoadOptions(n_ctx=512))
    assert engine.model_info is None


# -- services under a policy -----------------------------------------------------------------------

def test_import_refuses_a_model_the_policy_does_not_allow(smollm2_copy, services_with):
    services = services_with({"allowed_models": ["smollm2-135m-instruct"]})
    with pytest.raises(ModelNotAllowedError):
        services.library.import_file(smollm2_copy)
    assert not list(services.paths.models_dir.rglob("*.gguf"))


def test_locked_settings_win_and_the_persons_own_values_survive(scalpel_home, tmp_path):
    SettingsStore(scalpel_home / "settings.json").save(Settings(n_threads=3, max_tokens=99))
    store = SettingsStore(scalpel_home / "settings.json", locked={"n_threads": 1})
    settings = store.load()
    assert settings.n_threads == 1 and settings.max_tokens == 99
    settings.n_threads = 4  # a change the GUI would not offer, made anyway
    store.save(settings)
    assert json.loads((scalpel_home / "settings.json").read_text())["n_threads"] == 3
    assert store.load().n_threads == 1
    assert SettingsStore(scalpel_home / "settings.json").load().n_threads == 3


def test_a_locked_context_size_beats_the_presets(services_with):
    services = services_with({"locked_settings": {"n_ctx": 1024}})
    preset = services.presets.get("code").with_changes(context_size=8192)
    assert services.load_options(None, preset).n_ctx == 1024


def test_default_preset_and_it_presets_dir(tmp_path, services_with):
    it_presets = tmp_path / "it-presets"
    it_presets.mkdir()
    builtin = json.loads((Path(__file__).parents[1] / "resources/presets/email.json").read_text())
    builtin.update(id="legal-email", name="Legal email")
    (it_presets / "legal-email.json").write_text(json.dumps(builtin))
    services = services_with({"default_preset": "legal-email",
                                                      "presets_dir": str(it_presets)})
    assert services.current_preset().id == "legal-email"
    assert services.presets.get("legal-email").builtin  # read-only, like the built-in ones


def test_provisioned_models_are_listed_by_catalog_name(tmp_path, smollm2_path, services_with):
    shared = tmp_path / "share"
    folder = shared / "QuantFactory" / "SmolLM2-135M-Instruct-GGUF"
    folder.mkdir(parents=True)
    (folder / smollm2_path.name).symlink_to(smollm2_path)
    services = services_with({"model_dirs": [str(shared)]})
    services.registry.include_starter = False
    [ref] = services.registry.list()
    assert (ref.id, ref.source) == ("smollm2-135m-instruct", "provisioned")
    unreachable = services_with({"model_dirs": ["/nonexistent/share"]})
    unreachable.registry.include_starter = False
    assert unreachable.registry.list() == []


def test_downloads_off_refuses_before_any_network_use(services_with):
    services = services_with({"downloads_allowed": False})
    services.settings.hub_endpoint = "http://127.0.0.1:9"  # nothing listens: must not be tried
    from desktop_app.core.downloads.manager import DownloadRequest

    manager = services.new_download_manager()
    with pytest.raises(DownloadsDisabledError, match="turned off by your organization"):
        manager.download(DownloadRequest("a/b", "c.gguf", expected_sha256=STARTER_SHA256))


def test_allow_list_refuses_downloading_other_models(services_with):
    services = services_with({"allowed_models": ["smollm2-135m-instruct"]})
    services.download_admission("smollm2-135m-instruct", STARTER_SHA256)
    services.download_admission(None, None)  # not known yet: judged once the Hub answers
    with pytest.raises(DownloadsDisabledError, match="not on your organization's list"):
        services.download_admission("qwen2.5-0.5b-instruct", "ab" * 32)
    with pytest.raises(DownloadsDisabledError, match="no known sha256"):
        services.download_admission(None, "")
