"""Keeping models loaded, and giving memory back when they are unloaded."""

from __future__ import annotations

import shutil

import psutil

from desktop_app.core.engine import LlamaEngine, LoadOptions
from desktop_app.core.engine.loaded_model import ModelPool
from desktop_app.core.hardware import MemoryInfo

GB = 1000 ** 3


class FakeModel:
    def __init__(self, name: str) -> None:
        self.info = type("Info", (), {"name": name})()
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_pool_keeps_the_most_recent_models_up_to_its_limit():
    pool = ModelPool(keep=2, memory=lambda: MemoryInfo(16 * GB, 8 * GB))
    a, b, c = FakeModel("a"), FakeModel("b"), FakeModel("c")
    for key, model in (("a", a), ("b", b)):
        pool.add(key, model)
        pool.trim()
    assert pool.take("a") is a  # a is now the most recently used
    pool.add("c", c)
    assert [info.name for info in pool.trim()] == ["b"]
    assert b.closed and not a.closed and not c.closed
    assert [info.name for info in pool.infos()] == ["a", "c"]


def test_pool_closes_idle_models_while_memory_is_short_but_never_the_active_one():
    free = {"bytes": 8 * GB}
    pool = ModelPool(keep=3, memory=lambda: MemoryInfo(16 * GB, free["bytes"]),
                     reserve_bytes=2 * GB)
    models = [FakeModel(name) for name in "abc"]
    for model in models:
        pool.add(model.info.name, model)
    assert pool.trim() == [] and len(pool) == 3
    free["bytes"] = 1 * GB  # memory got tight
    assert [info.name for info in pool.trim()] == ["a", "b"]
    assert not models[2].closed and len(pool) == 1


def test_unknown_free_memory_keeps_the_limit_only():
    pool = ModelPool(keep=2, memory=lambda: MemoryInfo(None, None))
    for name in "ab":
        pool.add(name, FakeModel(name))
    assert pool.trim() == [] and len(pool) == 2


def _mapped_bytes(process: psutil.Process, path) -> int:
    """Resident bytes of ``path``'s mappings in ``process`` (0: not mapped)."""
    target = str(path.resolve())
    return sum(m.rss for m in process.memory_maps(grouped=True) if m.path == target)


def test_unloading_gives_the_memory_back(smollm2_path, tmp_path):
    """The model's own pages are counted through its file's mapping, not the process's
    whole RSS: other tests' leftovers (a thread still retrying, objects collected meanwhile)
    moved RSS by more than the model's 98 MB (seen in CI: -160 MB while loading). The file
    is this test's own copy: the session's shared engine keeps the starter file mapped."""
    model = tmp_path / "private-copy.gguf"
    shutil.copyfile(smollm2_path, model)
    process = psutil.Process()
    engine = LlamaEngine(thread_probe=None)
    engine.load(model, LoadOptions(n_ctx=4096))  # libllama's code and one-time
    engine.unload()                              # allocations are not the model's
    _settle_memory()   # what earlier tests let go of must not be counted as this one's
    before = process.memory_info().rss
    engine.load(model, LoadOptions(n_ctx=4096))
    list(engine.generate([{"role": "user", "content": "Hi"}]))
    mapped = _mapped_bytes(process, model)
    engine.unload()
    _settle_memory()
    after = process.memory_info().rss
    # the 98 MB model was mapped in, and after unloading it is not mapped at all
    assert mapped > 80_000_000
    assert _mapped_bytes(process, model) == 0
    # nor is the rest kept: the KV cache (512 cells: it grows with the chat) and buffers
    assert after - before < 0.3 * mapped, (before, after, mapped)
    assert engine.model_info is None and engine.loaded_models() == []


def test_keeping_two_loaded_then_one_frees_the_other(smollm2_path):
    engine = LlamaEngine(keep_loaded=2)
    first = engine.load(smollm2_path, LoadOptions(n_ctx=2048))
    second = engine.load(smollm2_path, LoadOptions(n_ctx=1024))
    assert [m.context_size for m in engine.loaded_models()] == [2048, 1024]
    assert engine.load(smollm2_path, LoadOptions(n_ctx=2048)) is first  # reused, not reloaded
    engine.keep_loaded = 1
    assert engine.loaded_models() == [first] and engine.model_info is first
    assert second not in engine.loaded_models()
    engine.unload()


def _settle_memory() -> None:
    """Collect garbage and hand freed heap back to the system (glibc keeps it otherwise)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
