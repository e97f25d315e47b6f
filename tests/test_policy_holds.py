"""The machine's policy holds against a user without admin rights (issue 17, part 2).

Each bypass that used to load a forbidden model is tried as a user would, through
the real ``scalpel`` command in its own process, on a machine whose policy file
is in a tmp folder moved there in code (tests/policy_launcher.py): environment
variables, a forged digest-cache entry, rewriting the approved file in place
(padded, mtime restored), swapping the file after the window-side check, hashing
that fails, command-line flags against locked settings. The approved model is a
copy of SmolLM2 in the user's own folder; the forbidden one is SmolLM2 with
another name and no chat template (a different sha256).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.core.downloads.installed import sha256_of

pytestmark = pytest.mark.model

LAUNCHER = Path(__file__).with_name("policy_launcher.py")
REFUSED = "not on your organization's list of allowed models"


@pytest.fixture
def machine(tmp_path, smollm2_path, write_policy):
    """A machine with a policy allowing one model (a copy in the user's folder)."""
    approved = tmp_path / "user-models" / "approved.gguf"
    approved.parent.mkdir()
    shutil.copyfile(smollm2_path, approved)
    folder = tmp_path / "etc-scalpel"
    policy = write_policy(folder, {"allowed_models": ["sha256:" + sha256_of(approved)],
                                   "downloads_allowed": False,
                                   "locked_settings": {"n_ctx": 1024, "n_threads": 1}})
    return {"folder": folder, "policy": policy, "approved": approved}


@pytest.fixture
def run(scalpel_home):
    """``scalpel ARGS`` on the ``machine`` folder, with the user's own ``env`` on top."""
    def run_(machine_dir: Path, *args: str, env: dict | None = None,
             hooks: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        environ = {k: v for k, v in os.environ.items() if k != "HF_ENDPOINT"}
        environ.update({"SCALPEL_HOME": str(scalpel_home), **(env or {})})
        result = subprocess.run([sys.executable, str(LAUNCHER), str(machine_dir), *hooks, "--",
                                 *args], capture_output=True, timeout=300, env=environ)
        result.stdout = result.stdout.decode("utf-8", "replace")
        result.stderr = result.stderr.decode("utf-8", "replace")
        return result

    return run_


def chat(run, machine, model: Path, **kw) -> subprocess.CompletedProcess:
    return run(machine["folder"], "chat", "--no-save", "--temperature", "0", "--max-tokens", "4",
               "--model", str(model), "Say hello.", **kw)


def refused(result: subprocess.CompletedProcess) -> bool:
    return result.returncode == 1 and result.stdout == "" and "Traceback" not in result.stderr


def test_the_approved_model_chats_and_the_forbidden_one_is_refused(run, machine, smollm2_copy):
    ok = chat(run, machine, machine["approved"])
    assert ok.returncode == 0 and ok.stdout.strip(), ok.stderr
    result = chat(run, machine, smollm2_copy)
    assert refused(result) and REFUSED in result.stderr, result.stderr


@pytest.mark.parametrize("variable", ["SCALPEL_HOME", "SCALPEL_SYSTEM_CONFIG", "SCALPEL_POLICY"])
def test_no_environment_variable_replaces_the_machine_policy(run, machine, smollm2_copy,
                                                            tmp_path, variable):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "open.json").write_text("{}")
    value = {"SCALPEL_HOME": str(tmp_path / "elsewhere"), "SCALPEL_SYSTEM_CONFIG": str(empty),
             "SCALPEL_POLICY": str(empty / "open.json")}[variable]
    env = {variable: value}
    result = chat(run, machine, smollm2_copy, env=env)
    assert refused(result) and REFUSED in result.stderr, result.stderr
    shown = json.loads(run(machine["folder"], "policy", "show", "--json", env=env).stdout)
    assert shown["file"] == str(machine["policy"]) and shown["managed"]
    download = run(machine["folder"], "models", "download", "smollm2-135m-instruct", env=env)
    assert download.returncode != 0 and "downloads are turned off" in download.stderr


def test_without_a_machine_policy_the_environment_may_name_one(run, tmp_path, smollm2_copy,
                                                               write_policy):
    """How tests and trials place a policy: only on a machine that has none."""
    named = write_policy(tmp_path / "trial", {"allowed_models": ["sha256:" + "0" * 64]})
    result = run(tmp_path / "no-machine-policy", "chat", "--model", str(smollm2_copy), "hi",
                 env={"SCALPEL_POLICY": str(named)})
    assert refused(result) and REFUSED in result.stderr


def test_a_forged_digest_cache_entry_does_not_let_a_model_load(run, machine, smollm2_copy,
                                                               scalpel_home):
    st = smollm2_copy.stat()
    allowed = json.loads(machine["policy"].read_text())["allowed_models"][0].split(":")[1]
    cache = scalpel_home / "cache" / "model-digests.json"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({str(smollm2_copy.resolve()): {
        "size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino, "sha256": allowed}}))
    result = chat(run, machine, smollm2_copy)
    assert refused(result) and REFUSED in result.stderr, result.stderr


def test_an_approved_file_rewritten_in_place_is_refused(run, machine, smollm2_copy):
    approved = machine["approved"]
    assert chat(run, machine, approved).returncode == 0  # checked (and cached) once
    before = approved.stat()
    forbidden = smollm2_copy.read_bytes()
    assert len(forbidden) < before.st_size
    with open(approved, "r+b") as f:  # same file, same size, same inode
        f.write(forbidden + b"\0" * (before.st_size - len(forbidden)))
    os.utime(approved, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = approved.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino, before.st_size, before.st_mtime_ns)
    result = chat(run, machine, approved)
    assert refused(result) and REFUSED in result.stderr, result.stderr


def test_swapping_the_file_after_the_window_side_check_is_refused(run, machine, smollm2_copy,
                                                                 tmp_path):
    swap_in = tmp_path / "forbidden-to-swap.gguf"
    shutil.copyfile(smollm2_copy, swap_in)
    result = chat(run, machine, machine["approved"], hooks=("--swap-on-load", str(swap_in)))
    assert not swap_in.exists()  # the swap happened, between the check and the open
    assert refused(result) and REFUSED in result.stderr, result.stderr


def test_a_model_that_cannot_be_hashed_is_refused(run, machine):
    result = chat(run, machine, machine["approved"], hooks=("--fail-hashing",))
    assert refused(result), result.stderr
    assert "could not read it to check it" in result.stderr and "Input/output" in result.stderr


def test_locked_settings_beat_command_line_flags(run, machine, scalpel_home):
    result = run(machine["folder"], "chat", "--no-save", "--json", "--temperature", "0",
                 "--max-tokens", "4", "--ctx", "8192", "--threads", "2",
                 "--model", str(machine["approved"]), "Say hello.")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    assert stats["context_size"] == 1024
    assert ("the context size is set by your organization (1024); --ctx is ignored"
            in result.stderr)
    assert "the thread count is set by your organization (1); --threads is ignored" in result.stderr
    log = (scalpel_home / "logs" / "scalpel.log").read_text()
    assert "ctx 1024, 1 threads" in log


# -- in the engine: the bytes checked are the bytes loaded -------------------------------------

def _gate_for(model: Path):
    from desktop_app.core.policy import ModelGate, Policy

    return ModelGate(Policy(allowed_models=("sha256:" + sha256_of(model),),
                            file=Path("/etc/scalpel/policy.json")))


def test_changing_the_file_after_the_engine_checked_it_loads_the_checked_bytes(
        tmp_path, smollm2_path, smollm2_copy, monkeypatch):
    """The engine's own race, made deterministic: right after the gate hashed the open
    file, the file is rewritten in place with forbidden bytes and then replaced. What
    llama.cpp loads is still the approved model (its header: name, chat template)."""
    from desktop_app.core.engine import LoadOptions
    from desktop_app.core.engine.llama_engine import LlamaEngine
    from desktop_app.core.policy import ModelGate

    approved = tmp_path / "approved.gguf"
    shutil.copyfile(smollm2_path, approved)
    gate = _gate_for(approved)
    check = ModelGate.check_descriptor

    def check_then_tamper(self, fd, path, **kw):
        digest = check(self, fd, path, **kw)
        forbidden = smollm2_copy.read_bytes()
        with open(approved, "r+b") as f:
            f.write(forbidden)
        replacement = tmp_path / "swap.gguf"
        shutil.copyfile(smollm2_copy, replacement)
        os.replace(replacement, approved)
        return digest

    monkeypatch.setattr(ModelGate, "check_descriptor", check_then_tamper)
    engine = LlamaEngine(gate=gate)
    try:
        info = engine.load(approved, LoadOptions(n_ctx=512))
        assert info.name != "SmolLM2 no template" and info.chat_template.startswith("embedded")
        maps = Path("/proc/self/maps").read_text()
        assert "memfd:scalpel-model" in maps  # the sealed private copy is what is mapped
    finally:
        engine.unload()


def test_hashing_that_fails_is_a_refusal_in_the_engine(tmp_path, smollm2_path, monkeypatch):
    from desktop_app.core.engine import LoadOptions
    from desktop_app.core.engine.llama_engine import LlamaEngine
    from desktop_app.core.errors import ModelNotAllowedError
    from desktop_app.core.policy import gate as gate_module

    gate = _gate_for(smollm2_path)

    def fail(fd, **_):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(gate_module, "digest_of_descriptor", fail)
    with pytest.raises(ModelNotAllowedError, match="could not read it to check it"):
        LlamaEngine(gate=gate).load(smollm2_path, LoadOptions(n_ctx=512))
    with pytest.raises(ModelNotAllowedError, match="could not read it to check it"):
        gate.check(smollm2_path)  # an import's check too


def test_a_snapshot_is_sealed_and_a_file_no_one_can_change_loads_from_its_descriptor(
        tmp_path, smollm2_path):
    import fcntl

    from desktop_app.core.engine.model_file import open_model_file, unchangeable
    from desktop_app.core.policy.gate import digest_of_descriptor

    expected = sha256_of(smollm2_path)
    with unchangeable(open_model_file(smollm2_path), snapshot=True) as copy:
        assert copy.snapshot and digest_of_descriptor(copy.fd) == expected
        with pytest.raises(PermissionError):
            os.write(copy.fd, b"x")
        with pytest.raises(PermissionError):
            with open(copy.load_path, "r+b") as f:  # through /proc, as another process would
                f.write(b"x")
        seals = fcntl.fcntl(copy.fd, fcntl.F_GET_SEALS)
        assert seals & fcntl.F_SEAL_WRITE and seals & fcntl.F_SEAL_SEAL
    with unchangeable(open_model_file(smollm2_path), snapshot=False) as direct:
        assert not direct.snapshot and direct.load_path == f"/proc/self/fd/{direct.fd}"
        assert digest_of_descriptor(direct.fd) == expected


def test_only_the_machine_policy_counts_when_the_machine_has_one(tmp_path, write_policy):
    from desktop_app.core.paths import Paths
    from desktop_app.core.policy import load_policy

    machine = tmp_path / "etc-scalpel"
    mine = write_policy(tmp_path / "mine", {})
    env = {"SCALPEL_HOME": str(tmp_path / "home"), "SCALPEL_SYSTEM_CONFIG": str(mine.parent),
           "SCALPEL_POLICY": str(mine)}
    # No machine policy: the environment names the policy (tests, trials).
    assert Paths.from_environment(env, machine_dir=machine).system_config_dir == mine.parent
    assert load_policy(mine.parent, env, machine_dir=machine).file == mine
    it = write_policy(machine, {"allowed_models": []})
    assert Paths.from_environment(env, machine_dir=machine).system_config_dir == machine
    for system in (mine.parent, None):
        policy = load_policy(system, env, machine_dir=machine)
        assert policy.file == it and policy.allowed_models == ()


def test_user_can_change_follows_ownership_and_write_permission(tmp_path):
    """As another, non-root user: a root-owned 0644 model cannot be changed by them (loaded
    straight from its descriptor), one they own can (so it is snapshotted). Needs root to
    create the user; skipped otherwise."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("needs root and useradd to act as a second, non-root user")
    import pwd

    name = "scalpel-policy-test"
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                       check=True)
    user = pwd.getpwnam(name)
    folder = tmp_path / "models"
    folder.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(folder, 0o755)
    roots, theirs = folder / "root.gguf", folder / "theirs.gguf"
    roots.write_bytes(b"GGUF")
    theirs.write_bytes(b"GGUF")
    os.chmod(roots, 0o644)
    os.chown(theirs, user.pw_uid, user.pw_gid)
    # A forked copy of this process becomes that user (no exec: the interpreter here may
    # live where that user cannot read) and answers through a pipe.
    fds = [os.open(p, os.O_RDONLY) for p in (roots, theirs)]  # opened by the engine
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            import ctypes

            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE, as after an exec
            from desktop_app.core.engine.model_file import user_can_change

            answer: object = [user_can_change(fd) for fd in fds]
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            answer = repr(exc)
        os.write(write_end, json.dumps(answer).encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    for fd in fds:
        os.close(fd)
    with os.fdopen(read_end) as answer:
        assert json.loads(answer.read()) == [False, True]
