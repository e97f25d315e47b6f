"""The memory check before a model load (issue 7, part 2), with the real engine and model.

A load whose model + KV cache (for the context the load would really use) + working memory
is more than the free memory is refused with ``InsufficientMemoryError``, before llama.cpp
opens the file: the message names the figures and a context that would fit (checked to fit),
the model loaded before stays active, and idle kept models are closed first. Fake memory
figures go in through ``LlamaEngine(memory=..., gpu=...)``; the CLI and window tests use the
machine's real figures and a model whose KV cache is made too big for any ordinary machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from desktop_app.core.engine import GenerationParams, LlamaEngine, LoadOptions, ReplyFinished
from desktop_app.core.engine.memory_check import (attention_scores_per_token, check_memory,
                                                  gpu_share, memory_need, suggest_context)
from desktop_app.core.engine.protocol import error_from_dict, error_to_dict
from desktop_app.core.errors import InsufficientMemoryError
from desktop_app.core.fit import DEFAULT_OVERHEAD
from desktop_app.core.gguf_inspect import inspect_gguf
from desktop_app.core.hardware import GpuMemory, MemoryInfo, gpu_offload_supported
from gguf_copies import write_gguf_copy

MB, GB = 1000 ** 2, 1000 ** 3
KV_PER_TOKEN = 23_040      # SmolLM2-135M: 30 layers x 3 KV heads x (64 + 64) x 2 bytes
SCORES_PER_TOKEN = 9_216   # its attention scores per context cell: 9 heads x n_ubatch 256 x 4
# The loads below turn flash attention off, so that the scores count (the figures above);
# test_attention_scores_count_only_without_flash_attention covers "auto", which is on for CPU.
HI = [{"role": "user", "content": "Say hi"}]
GREEDY = GenerationParams(temperature=0.0, max_tokens=8)


class FakeMemory:
    """A MemoryInfo source whose free figure a test sets; optionally each model an engine
    holds open takes ``per_model`` bytes of it."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.engine: LlamaEngine | None = None
        self.per_model = 0

    def __call__(self) -> MemoryInfo:
        held = len(self.engine.loaded_models()) * self.per_model if self.engine else 0
        return MemoryInfo(total_bytes=32 * GB, available_bytes=self.free - held)


def needed_at(path: Path, n_ctx: int) -> int:
    return path.stat().st_size + (KV_PER_TOKEN + SCORES_PER_TOKEN) * n_ctx + DEFAULT_OVERHEAD


def answers(engine) -> bool:
    events = list(engine.generate(HI, GREEDY))
    return isinstance(events[-1], ReplyFinished) and bool(events[-1].text.strip())


# -- refused, with the numbers; the model loaded before stays --------------------------------

def test_a_load_that_will_not_fit_is_refused_naming_the_numbers(smollm2_path, smollm2_copy):
    memory = FakeMemory(8 * GB)
    engine = LlamaEngine(memory=memory)
    try:
        before = engine.load(smollm2_path, LoadOptions(flash_attn=False, n_ctx=2048), name="SmolLM2 135M")
        memory.free = 500 * MB
        with pytest.raises(InsufficientMemoryError) as caught:
            engine.load(smollm2_copy, LoadOptions(flash_attn=False, n_ctx=32768))  # capped at 8,192 trained
        error = caught.value
        needed = needed_at(smollm2_copy, 8192)
        assert (error.needed_bytes, error.available_bytes) == (needed, 500 * MB)
        assert (error.n_ctx, error.suggested_n_ctx, error.video) == (8192, 2048, False)
        assert error.model_bytes + error.kv_cache_bytes + error.overhead_bytes == needed
        assert str(error) == (
            "SmolLM2 no template needs about 677 MB of memory (98 MB model + 189 MB context "
            "cache for 8,192 tokens + 390 MB working memory) but only 500 MB is free. Set "
            "the context to 2,048 tokens or less, or choose a smaller model.")
        assert engine.model_info is before and engine.loaded_models() == [before]
        assert answers(engine)
    finally:
        engine.unload()


def test_with_enough_free_memory_the_same_load_goes_ahead(smollm2_copy):
    engine = LlamaEngine(memory=FakeMemory(needed_at(smollm2_copy, 8192)))  # exactly enough
    try:
        info = engine.load(smollm2_copy, LoadOptions(flash_attn=False, n_ctx=8192))
        assert info.context_size == 8192 and answers(engine)
    finally:
        engine.unload()


def test_unknown_free_memory_never_refuses(smollm2_path):
    engine = LlamaEngine(memory=lambda: MemoryInfo(None, None))
    try:
        assert engine.load(smollm2_path, LoadOptions(flash_attn=False, n_ctx=1024)).context_size == 1024
    finally:
        engine.unload()


def test_the_suggested_context_passes_the_check_and_loads(smollm2_path):
    """The suggestion is the largest power of two that fits: it loads, the next one up
    is refused."""
    memory = FakeMemory(needed_at(smollm2_path, 4096) - 1)
    engine = LlamaEngine(memory=memory)
    try:
        with pytest.raises(InsufficientMemoryError) as caught:
            engine.load(smollm2_path, LoadOptions(flash_attn=False, n_ctx=8192))
        suggested = caught.value.suggested_n_ctx
        assert suggested == 2048 and "Set the context to 2,048 tokens or less" in str(caught.value)
        with pytest.raises(InsufficientMemoryError, match="Set the context to 2,048"):
            engine.load(smollm2_path, LoadOptions(flash_attn=False, n_ctx=suggested * 2))
        info = engine.load(smollm2_path, LoadOptions(flash_attn=False, n_ctx=suggested))
        assert info.context_size == suggested and answers(engine)
    finally:
        engine.unload()


def test_when_not_even_512_tokens_fit_only_a_smaller_model_is_suggested(smollm2_path):
    engine = LlamaEngine(memory=FakeMemory(needed_at(smollm2_path, 512) - 1))
    with pytest.raises(InsufficientMemoryError) as caught:
        engine.load(smollm2_path, LoadOptions(flash_attn=False, n_ctx=4096), name="SmolLM2 135M")
    assert caught.value.suggested_n_ctx is None
    assert str(caught.value).endswith(
        "is free. Choose a smaller model, or close other programs and try again.")
    assert engine.model_info is None


def test_the_error_crosses_the_engine_process_boundary_intact(smollm2_path):
    with pytest.raises(InsufficientMemoryError) as caught:
        LlamaEngine(memory=FakeMemory(450 * MB)).load(smollm2_path, LoadOptions(flash_attn=False, n_ctx=8192))
    rebuilt = error_from_dict(error_to_dict(caught.value))
    assert isinstance(rebuilt, InsufficientMemoryError) and str(rebuilt) == str(caught.value)
    assert (rebuilt.needed_bytes, rebuilt.available_bytes, rebuilt.suggested_n_ctx) == \
        (caught.value.needed_bytes, 450 * MB, 1024)


# -- idle kept models make room first -------------------------------------------------------

def test_idle_kept_models_are_closed_before_refusing(smollm2_path, smollm2_copy):
    memory = FakeMemory(8 * GB)
    engine = LlamaEngine(keep_loaded=3, memory=memory)
    try:
        engine.load(smollm2_copy, LoadOptions(flash_attn=False, n_ctx=512))
        engine.load(smollm2_path, LoadOptions(flash_attn=False, n_ctx=512))
        active = engine.load(smollm2_path, LoadOptions(flash_attn=False, n_ctx=1024))
        assert len(engine.loaded_models()) == 3
        memory.free = 300 * MB  # closing models does not help: the figure stays short
        with pytest.raises(InsufficientMemoryError):
            engine.load(smollm2_path, LoadOptions(flash_attn=False, n_ctx=2048))
        assert engine.loaded_models() == [active] and engine.model_info is active
        assert answers(engine)
    finally:
        engine.unload()


def test_closing_the_oldest_idle_model_can_make_enough_room(smollm2_path, smollm2_copy, caplog):
    memory = FakeMemory(8 * GB)
    engine = memory.engine = LlamaEngine(keep_loaded=3, memory=memory)
    try:
        engine.load(smollm2_copy, LoadOptions(flash_attn=False, n_ctx=512))
        engine.load(smollm2_path, LoadOptions(flash_attn=False, n_ctx=512))
        engine.load(smollm2_path, LoadOptions(flash_attn=False, n_ctx=1024))
        # Each model held open takes 200 MB of the free memory: 400 MB is left of 1 GB.
        memory.free, memory.per_model = 1000 * MB, 200 * MB
        caplog.set_level("INFO", logger="desktop_app.core.engine.llama_engine")
        info = engine.load(smollm2_path, LoadOptions(flash_attn=False, n_ctx=2048))  # needs 460 MB
        assert info.context_size == 2048 and engine.model_info is info
        made_room = [r.getMessage() for r in caplog.records if "to make room" in r.getMessage()]
        assert len(made_room) == 1 and made_room[0].startswith("unloaded SmolLM2 no template")
        assert answers(engine)
    finally:
        engine.unload()


# -- offloaded layers count against video memory ----------------------------------------------

def test_the_offloaded_share_of_the_layers_is_what_counts_against_the_gpu():
    assert gpu_share(-1, 30) == 1.0 and gpu_share(0, 30) == 0.0
    assert gpu_share(15, 30) == 0.5 and gpu_share(99, 30) == 1.0 and gpu_share(8, None) == 0.0
    need = memory_need(file_size=1000 * MB, kv_bytes_per_token=100_000, n_ctx=4000,
                       share_on_gpu=0.25)  # a 400 MB KV cache
    assert (need.model_vram, need.kv_vram) == (250 * MB, 100 * MB)
    assert (need.model_ram, need.kv_ram) == (750 * MB, 300 * MB)
    assert need.vram == 350 * MB and need.ram == 1050 * MB + DEFAULT_OVERHEAD
    everything_on_cpu = memory_need(file_size=1000 * MB, kv_bytes_per_token=100_000, n_ctx=4000)
    assert everything_on_cpu.vram == 0 and everything_on_cpu.ram == 1400 * MB + DEFAULT_OVERHEAD


def test_short_video_memory_is_named_and_its_suggestion_fits(smollm2_path):
    gguf = inspect_gguf(smollm2_path)
    # 15 of 30 layers at 4,096 tokens: half the weights, the KV cache and the scores
    half = (gguf.file_size + (KV_PER_TOKEN + SCORES_PER_TOKEN) * 4096) // 2
    gpu = GpuMemory("Fake GPU", 8 * GB, half)
    plenty = MemoryInfo(32 * GB, 16 * GB)
    error = check_memory(gguf, n_ctx=8192, n_gpu_layers=15, model_name="SmolLM2",
                         memory=plenty, gpu=gpu, step_tokens=256)
    assert isinstance(error, InsufficientMemoryError) and error.video
    assert error.available_bytes == half and error.suggested_n_ctx == 4096
    assert error.needed_bytes == error.model_bytes + error.kv_cache_bytes + error.overhead_bytes
    assert error.overhead_bytes == SCORES_PER_TOKEN * 8192 // 2  # only the offloaded scores
    assert ("of video memory (49 MB model + 94 MB context cache for 8,192 tokens + 38 MB "
            "working memory)") in str(error)
    assert str(error).endswith("or choose fewer GPU layers or a smaller model.")
    assert check_memory(gguf, n_ctx=4096, n_gpu_layers=15, model_name="SmolLM2",
                        memory=plenty, gpu=gpu, step_tokens=256) is None
    # No GPU known (nothing offloaded, or a CPU-only build): all of it counts against RAM.
    ram_only = check_memory(gguf, n_ctx=8192, n_gpu_layers=-1, model_name="SmolLM2",
                            memory=MemoryInfo(32 * GB, 500 * MB), gpu=None, step_tokens=256)
    assert not ram_only.video and ram_only.needed_bytes == needed_at(smollm2_path, 8192)


def test_attention_scores_count_only_without_flash_attention(smollm2_path):
    """llama.cpp holds f32 scores for every head, context cell and token of a compute step
    when flash attention is off (the engine passes n_ubatch), none when it is on (0)."""
    gguf = inspect_gguf(smollm2_path)
    assert attention_scores_per_token(gguf, 256) == SCORES_PER_TOKEN
    assert attention_scores_per_token(gguf, 0) == 0
    memory = MemoryInfo(32 * GB, needed_at(smollm2_path, 8192) - 1)
    assert check_memory(gguf, n_ctx=8192, n_gpu_layers=0, model_name="SmolLM2",
                        memory=memory, gpu=None, step_tokens=256) is not None
    assert check_memory(gguf, n_ctx=8192, n_gpu_layers=0, model_name="SmolLM2",
                        memory=memory, gpu=None, step_tokens=0) is None
    engine = LlamaEngine(memory=lambda: memory)
    try:
        with pytest.raises(InsufficientMemoryError):
            engine.load(smollm2_path, LoadOptions(n_ctx=8192, flash_attn=False))
        assert engine.load(smollm2_path, LoadOptions(n_ctx=8192, flash_attn=True)
                           ).context_size == 8192
        engine.unload()
        # "auto" on a CPU-only load is flash attention on: no scores to hold.
        assert engine.load(smollm2_path, LoadOptions(n_ctx=8192)).context_size == 8192
    finally:
        engine.unload()


def test_suggestions_stop_below_the_requested_context():
    need_at = lambda ctx: memory_need(file_size=0, kv_bytes_per_token=1000, n_ctx=ctx)  # noqa: E731
    memory = MemoryInfo(None, DEFAULT_OVERHEAD + 1000 * 3000)
    assert suggest_context(need_at, 32768, memory, None) == 2048
    assert suggest_context(need_at, 1024, memory, None) == 512
    assert suggest_context(need_at, 512, memory, None) is None


def test_the_engine_checks_the_injected_gpu_only_when_layers_are_offloaded(smollm2_path):
    def no_gpu_asked():
        raise AssertionError("the GPU was queried for a CPU-only load")

    engine = LlamaEngine(memory=FakeMemory(8 * GB), gpu=no_gpu_asked)
    try:
        engine.load(smollm2_path, LoadOptions(flash_attn=False, n_ctx=512, n_gpu_layers=0))
    finally:
        engine.unload()
    tiny_gpu = LlamaEngine(memory=FakeMemory(8 * GB),
                           gpu=lambda: GpuMemory("Fake GPU", 8 * GB, 10 * MB))
    with pytest.raises(InsufficientMemoryError, match="of video memory .* only 10 MB is free"):
        tiny_gpu.load(smollm2_path, LoadOptions(flash_attn=False, n_ctx=512, n_gpu_layers=-1))


@pytest.mark.skipif(gpu_offload_supported(), reason="this llama.cpp build can offload")
def test_without_offload_support_offloaded_layers_count_against_ram(smollm2_path):
    engine = LlamaEngine(memory=FakeMemory(400 * MB))  # the real hardware.gpu_memory
    with pytest.raises(InsufficientMemoryError) as caught:
        engine.load(smollm2_path, LoadOptions(flash_attn=False, n_ctx=8192, n_gpu_layers=-1))
    assert not caught.value.video and caught.value.needed_bytes == needed_at(smollm2_path, 8192)


# -- the command line and the window, with this machine's real memory -------------------------

HUGE_CTX = 2 ** 20


@pytest.fixture(scope="module")
def huge_kv_model(smollm2_path, tmp_path_factory) -> Path:
    """SmolLM2 claiming a 2**20-token context and 9 KV heads instead of 3: its KV cache at that
    context is 72 GB, so the check refuses it on any ordinary machine. (Were it let through,
    llama.cpp would refuse the tensor shapes before allocating anything.)"""
    path = tmp_path_factory.mktemp("huge-kv") / "huge-kv.gguf"
    write_gguf_copy(smollm2_path, path, set_ints={"llama.context_length": HUGE_CTX,
                                                  "llama.attention.head_count_kv": 9})
    needed = path.stat().st_size + 3 * KV_PER_TOKEN * HUGE_CTX + DEFAULT_OVERHEAD
    if psutil.virtual_memory().available >= needed:
        pytest.skip("this machine has enough free memory for a 72 GB context cache")
    return path


def test_the_cli_prints_the_message_in_one_line_and_exits_1(huge_kv_model):
    result = subprocess.run(
        [sys.executable, "-m", "desktop_app", "chat", "--model", str(huge_kv_model),
         "--ctx", str(HUGE_CTX), "hi"], capture_output=True, timeout=300, env=dict(os.environ))
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 1, err
    assert err.count("\n") == 1, err
    assert err.startswith("scalpel: huge-kv needs about 72.9 GB of memory")  # no scores: flash attention
    assert "context cache for 1,048,576 tokens" in err and "Set the context to " in err
    assert "Traceback" not in err and result.stdout == b""


def test_the_window_shows_the_message_and_keeps_its_model(qtbot, open_window, services,
                                                         huge_kv_model):
    """Through the window's real engine process: the refusal reaches the error bar as the
    same sentence, with no traceback, and the model loaded before still answers."""
    from desktop_app.core.models import STARTER_ID
    from gui_helpers import LOAD_TIMEOUT_MS, send

    window = open_window(n_ctx=HUGE_CTX, temperature=0.0, max_tokens=8)
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=LOAD_TIMEOUT_MS):
        window.load_model(services.registry.resolve(STARTER_ID))
    with qtbot.waitSignal(window.bridge.model_load_failed, timeout=LOAD_TIMEOUT_MS):
        window.open_model_file(str(huge_kv_model))
    message = window.errors.message()
    assert window.errors.isVisible()
    assert message.startswith("huge-kv needs about 72.9 GB of memory")
    assert "Set the context to " in message and "Traceback" not in message
    assert window.chat.model.path == str(services.registry.resolve(STARTER_ID).path)
    assert send(qtbot, window, "Say hi").text.strip()
