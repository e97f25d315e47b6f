"""Embedding models are listed (Installed tab, /v1/embeddings) but never offered as chat
models: not in the window's model menu, not chosen for a preset."""

from __future__ import annotations

import pytest


@pytest.fixture
def embedding_copy(smollm2_path, services):
    """SmolLM2 marked as an embedding model (``llama.pooling_type``), in the models folder."""
    from gguf_copies import write_gguf_copy

    folder = services.paths.models_dir / "imported"
    folder.mkdir(parents=True, exist_ok=True)
    return write_gguf_copy(smollm2_path, folder / "tiny-embedder.gguf",
                           set_ints={"llama.pooling_type": 1},
                           set_strings={"general.name": "Tiny embedder"})


def test_embedding_models_are_listed_apart_from_chat_models(services, embedding_copy):
    services.models.refresh()
    chat = [str(ref.path) for ref in services.models.models()]
    assert str(embedding_copy) not in chat and chat   # the starter is still there
    assert str(embedding_copy) not in [str(r.path) for r in services.usable_models()]
    assert [str(r.path) for r in services.models.embedding_models()] == [str(embedding_copy)]
    assert str(embedding_copy) in [str(r.path) for r in services.models.all_models()]
    assert services.embedding_model().path == embedding_copy
    assert services.models.find(embedding_copy) is not None


def test_the_model_menu_leaves_embedding_models_out_and_installed_marks_them(
        qtbot, open_window, embedding_copy):
    window = open_window()
    combo = [window.model_combo.itemData(i) for i in range(window.model_combo.count())]
    assert combo and str(embedding_copy) not in combo
    dialog = window.open_model_manager()
    tab = dialog.installed_tab
    assert str(embedding_copy) in tab.paths()
    qtbot.waitUntil(lambda: tab.kinds.get(str(embedding_copy)) == "embedding", timeout=10_000)
    assert tab.select_path(str(embedding_copy))
    assert not tab.use_button.isEnabled()
    row = tab.paths().index(str(embedding_copy))
    assert tab.table.item(row, 0).text() == "Tiny embedder (embedding)"
