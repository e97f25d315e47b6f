"""Escalation's configuration: the policy's object locks it, else the person's settings,
else off; every bad value refused with a sentence; the API key from a variable or a file;
the remote engine gets the policy's proxy and CA bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop_app.core.errors import InvalidSettingError, PresetError, SettingLockedError
from desktop_app.core.escalation import (EscalationConfig, EscalationConfigError,
                                         read_api_key, remote_engine_for, resolve_escalation)
from desktop_app.core.paths import Paths
from desktop_app.core.policy import Policy
from desktop_app.core.policy.describe import format_policy
from desktop_app.core.policy.parse import parse_policy
from desktop_app.core.presets import preset_from_dict
from desktop_app.core.services import build_services
from desktop_app.core.settings import Settings, SettingsStore

GOOD = {"mode": "ask", "endpoint": "https://llm.example/v1/", "model": "big-72b",
        "api_key_env": "SCALPEL_TEST_KEY", "tasks": ["code", "general"], "share_budget": 0.1,
        "thresholds": {"logprob_p10": -2.5, "repetition": 0.4}}


def test_a_good_object_round_trips():
    config = EscalationConfig.from_dict(GOOD)
    assert config.endpoint == "https://llm.example/v1" and config.tasks == ("code", "general")
    assert config.thresholds.logprob_p10 == -2.5 and config.thresholds.repetition == 0.4
    assert config.configured and config.allows_task("code") and not config.allows_task("email")
    assert EscalationConfig.from_dict(config.to_dict()) == config
    assert config.describe()["source"] == "settings" and not config.describe()["locked"]
    assert not EscalationConfig().configured and EscalationConfig().mode == "off"


@pytest.mark.parametrize("change, words", [
    ({"mode": "always"}, "'escalation.mode' must be \"off\", \"ask\" or \"auto\""),
    ({"endpoint": "ftp://x"}, "'escalation.endpoint' must be an http(s) address"),
    ({"share_budget": 1.5}, "'escalation.share_budget' must be a share from 0 to 1"),
    ({"share_budget": True}, "'escalation.share_budget'"),
    ({"api_key_env": "MY KEY"}, "name of an environment variable"),
    ({"api_key_file": "key.txt"}, "'escalation.api_key_file' must be an absolute path"),
    ({"tasks": "code"}, "'escalation.tasks' must be a list of preset ids"),
    ({"thresholds": {"logprob_p10": 2}}, "'logprob_p10' must be a log-probability"),
    ({"thresholds": {"surprise": 1}}, "'surprise' is not a threshold"),
    ({"api_key": "sk-123"}, "'escalation.api_key' is not an escalation key"),
])
def test_bad_values_are_refused_with_a_sentence(change, words):
    with pytest.raises(EscalationConfigError) as caught:
        EscalationConfig.from_dict({**GOOD, **change})
    assert words in str(caught.value)


def test_the_policy_locks_it_and_a_bad_object_turns_it_off(tmp_path):
    path = tmp_path / "policy.json"
    policy = parse_policy({"escalation": GOOD}, path)
    assert not policy.problems
    config = resolve_escalation(policy, Settings(escalation={"mode": "auto",
                                                             "endpoint": "http://mine:1/v1",
                                                             "model": "m"}))
    assert (config.source, config.locked, config.model) == ("policy", True, "big-72b")
    assert policy.to_dict()["escalation"]["endpoint"] == "https://llm.example/v1"
    assert "escalation (locked): ask mode, to big-72b at https://llm.example/v1" in \
        format_policy(policy, str(path), [])

    bad = parse_policy({"escalation": {**GOOD, "mode": "sometimes"}}, path)
    assert bad.problems == (f"{path}, key 'escalation': 'escalation.mode' must be \"off\", "
                            "\"ask\" or \"auto\", not 'sometimes'; escalation is off until it "
                            "is fixed",)
    off = resolve_escalation(bad, Settings(escalation=GOOD))
    assert (off.mode, off.locked, off.source) == ("off", True, "policy")

    # a policy with another problem that does not set escalation: off too, not the person's
    broken = parse_policy({"downloads_allowed": "yes"}, path)
    assert broken.problems and resolve_escalation(broken, Settings(escalation=GOOD)).mode == "off"


def test_without_a_policy_the_settings_apply_else_off(tmp_path):
    unmanaged = Policy.unmanaged()
    assert resolve_escalation(unmanaged, Settings()) == EscalationConfig()
    mine = resolve_escalation(unmanaged, Settings(escalation=GOOD))
    assert (mine.source, mine.locked, mine.mode) == ("settings", False, "ask")


def test_settings_check_the_object_on_load_and_on_update(tmp_path, scalpel_home):
    file = tmp_path / "settings.json"
    file.write_text(json.dumps({"escalation": {**GOOD, "mode": "loud"}, "max_tokens": 64}))
    store = SettingsStore(file)
    settings = store.load()
    assert settings.escalation is None and settings.max_tokens == 64
    assert "'escalation' must be an escalation object" in store.warning
    file.write_text(json.dumps({"escalation": GOOD}))
    assert SettingsStore(file).load().escalation == GOOD

    services = build_services(Paths.under(scalpel_home))
    with pytest.raises(InvalidSettingError):
        services.update_settings(escalation={"mode": "loud"})
    services.update_settings(escalation=GOOD)
    saved = json.loads(services.paths.settings_file.read_text())
    assert saved["escalation"] == GOOD
    assert resolve_escalation(services.policy, services.settings).model == "big-72b"


def test_a_policy_escalation_cannot_be_changed_in_settings(scalpel_home, tmp_path,
                                                           write_policy, monkeypatch):
    policy_file = write_policy(tmp_path / "etc", {"escalation": {**GOOD, "mode": "auto"}})
    monkeypatch.setenv("SCALPEL_POLICY", str(policy_file))
    services = build_services(Paths.under(scalpel_home))
    with pytest.raises(SettingLockedError) as caught:
        services.update_settings(escalation={**GOOD, "mode": "off"})
    assert "set by your organization's policy" in str(caught.value)
    assert resolve_escalation(services.policy, services.settings).mode == "auto"


def test_the_api_key_comes_from_its_variable_or_file(tmp_path):
    config = EscalationConfig.from_dict(GOOD)
    assert read_api_key(config, {"SCALPEL_TEST_KEY": " sk-abc \n"}) == "sk-abc"
    with pytest.raises(EscalationConfigError) as missing:
        read_api_key(config, {})
    assert "environment variable SCALPEL_TEST_KEY, which is not set" in str(missing.value)
    key_file = tmp_path / "key"
    key_file.write_text("sk-from-file\n")
    from_file = EscalationConfig.from_dict({**GOOD, "api_key_env": None,
                                            "api_key_file": str(key_file)})
    assert read_api_key(from_file, {}) == "sk-from-file"
    gone = EscalationConfig.from_dict({**GOOD, "api_key_env": None,
                                       "api_key_file": str(tmp_path / "nope")})
    with pytest.raises(EscalationConfigError, match="cannot be read"):
        read_api_key(gone, {})
    assert read_api_key(EscalationConfig.from_dict({**GOOD, "api_key_env": None}), {}) is None


def test_the_remote_engine_gets_the_policys_proxy_and_ca_bundle(tmp_path):
    policy = Policy(proxy="http://proxy.example:3128", ca_bundle=Path("/etc/ssl/corp.pem"))
    engine = remote_engine_for(EscalationConfig.from_dict(GOOD), policy,
                               environ={"SCALPEL_TEST_KEY": "sk-1"})
    assert (engine.endpoint, engine.model, engine.proxy, engine.ca_bundle) == (
        "https://llm.example/v1", "big-72b", "http://proxy.example:3128", "/etc/ssl/corp.pem")
    assert engine._headers["Authorization"] == "Bearer sk-1"
    off = EscalationConfig.from_dict({**GOOD, "mode": "off"})
    assert remote_engine_for(off, policy) is None
    no_endpoint = EscalationConfig.from_dict({**GOOD, "endpoint": None})
    assert remote_engine_for(no_endpoint, policy, environ={}) is None  # no key asked either


def test_a_preset_may_say_always_or_never():
    base = {"id": "review", "name": "Review"}
    assert preset_from_dict(base, file="r.json").escalate is None
    always = preset_from_dict({**base, "escalate": "always"}, file="r.json")
    assert always.escalate == "always"
    assert preset_from_dict(always.to_dict(), file="r.json").escalate == "always"
    with pytest.raises(PresetError, match="escalate.*must be \"always\" or \"never\""):
        preset_from_dict({**base, "escalate": "sometimes"}, file="r.json")


def test_policy_show_lists_the_escalation(scalpel, tmp_path, write_policy):
    write_policy(tmp_path / "etc", {"escalation": GOOD})
    result = scalpel("policy", "show", env={"SCALPEL_SYSTEM_CONFIG": str(tmp_path / "etc")})
    assert result.returncode == 0, result.stderr
    assert "escalation (locked): ask mode, to big-72b" in result.stdout
    shown = json.loads(scalpel("policy", "show", "--json",
                               env={"SCALPEL_SYSTEM_CONFIG": str(tmp_path / "etc")}).stdout)
    escalation = shown["values"]["escalation"]
    assert escalation["value"]["model"] == "big-72b" and escalation["value"]["mode"] == "ask"
    assert escalation["source"].endswith("policy.json")
