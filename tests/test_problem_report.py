"""The problem report: logs and the doctor report in a zip, never chats, secrets blanked."""

from __future__ import annotations

import json
import zipfile

import pytest

from desktop_app.core.build_info import backends_in, llama_build
from desktop_app.core.paths import Paths
from desktop_app.core.problem_report import (REDACTED, DoctorOutput, ProblemReportError,
                                             run_doctor, save_problem_report)


@pytest.fixture
def filled(scalpel_home):
    """A Scalpel home as a person's looks after some use: chats, logs, a token."""
    paths = Paths.under(scalpel_home).ensure()
    (paths.data_dir / "chats.sqlite3").write_text("SECRET CHAT TEXT", encoding="utf-8")
    (paths.data_dir / "chats.sqlite3-wal").write_text("SECRET CHAT TEXT", encoding="utf-8")
    (paths.config_dir / "api-token").write_text("api-token-value", encoding="utf-8")
    (paths.log_dir / "scalpel.log").write_text("INFO started\n", encoding="utf-8")
    (paths.log_dir / "scalpel.log.1").write_text("INFO older\n", encoding="utf-8")
    (paths.log_dir / "notes.txt").write_text("not a log of ours\n", encoding="utf-8")
    paths.settings_file.write_text(json.dumps({
        "n_ctx": 2048, "hub_token": "hf_secretvalue",
        "escalation": {"mode": "ask", "api_key_env": "SCALPEL_LLM_KEY"}}), encoding="utf-8")
    return paths


def fake_doctor():
    return DoctorOutput(json.dumps({"scalpel": "test"}))


def test_the_zip_holds_logs_and_doctor_and_never_chats(filled, tmp_path):
    report = save_problem_report(filled, tmp_path / "out" / "report.zip", doctor=fake_doctor)
    assert report.path.is_file() and report.doctor_problem is None
    with zipfile.ZipFile(report.path) as archive:
        names = set(archive.namelist())
        blob = b"".join(archive.read(name) for name in names)
        settings = json.loads(archive.read("settings.json"))
        build = json.loads(archive.read("build.json"))
    assert names == {"README.txt", "doctor.json", "build.json", "settings.json",
                     "logs/scalpel.log", "logs/scalpel.log.1"}
    assert not any("chats" in name or "sqlite" in name for name in names)
    assert b"SECRET CHAT TEXT" not in blob and b"api-token-value" not in blob
    assert b"hf_secretvalue" not in blob and settings["hub_token"] == REDACTED
    assert settings["escalation"]["api_key_env"] == "SCALPEL_LLM_KEY"  # a name, not a key
    assert settings["n_ctx"] == 2048
    assert build["llama_cpp"]["backends"][0] == "cpu"
    assert not list((tmp_path / "out").glob(".*.tmp"))  # written aside, then moved in


def test_a_doctor_that_fails_is_named_and_the_rest_is_saved(filled, tmp_path):
    def broken():
        return DoctorOutput(None, "scalpel doctor ended with code 3: boom")

    report = save_problem_report(filled, tmp_path / "r.zip", doctor=broken)
    with zipfile.ZipFile(report.path) as archive:
        assert "doctor.json" not in archive.namelist()
        assert "boom" in archive.read("doctor-problem.txt").decode()
        assert "boom" in archive.read("README.txt").decode()
    assert "code 3" in report.doctor_problem


def test_an_unwritable_target_is_a_sentence(filled, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ProblemReportError, match="could not save the problem report"):
        save_problem_report(filled, blocker / "r.zip", doctor=fake_doctor)


def test_the_real_doctor_runs_in_its_own_process(filled, tmp_path):
    """The report's doctor.json is `scalpel doctor --json` for the same folders."""
    output = run_doctor()
    assert output.problem is None, output.problem
    doctor = json.loads(output.text)
    assert doctor["paths"]["data"] == str(filled.data_dir)
    assert doctor["llama_cpp"]["importable"] is True


def test_a_doctor_that_cannot_start_says_so():
    output = run_doctor(command=["/nonexistent/scalpel", "doctor"])
    assert output.text is None and "could not start" in output.problem


def test_backends_come_from_the_library_file_names(tmp_path):
    assert backends_in(["libggml-base.so", "libggml-cpu-haswell.so", "libggml-cuda.so",
                        "ggml-vulkan.dll", "libllama.so", "readme.txt"]) == (
        "cpu", "cuda", "vulkan")
    for name in ("libggml-base.so.0.25.3", "libggml-cpu.so", "libggml-metal.dylib"):
        (tmp_path / name).write_text("")
    build = llama_build(lib_dir=tmp_path)
    assert build.backends == ("cpu", "metal") and build.gpu_backends == ("metal",)
    assert build.ggml_version == "0.25.3"
    assert type(build).from_dict(build.to_dict()) == build
