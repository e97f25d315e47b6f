"""The memory check ``LlamaEngine.load`` makes before llama.cpp opens a file.

The estimate is fit.py's: the weights (the file), an f16 KV cache for the
context the load will really use (the most it may grow to: the engine opens a
small context and grows it with the conversation, context_cells.py), and a
fixed working memory; plus, without flash attention, llama.cpp's attention
scores for one compute step (f32, one per head, context cell and token of the
step: SmolLM2 at 4,096 tokens and n_ubatch 256 holds 38 MB of them; a 32-head
model at 131,072 tokens, 4.3 GB). A load is
refused only when that is clearly more than the memory free now ("tight"
still loads: the OS can usually make room).

With layers offloaded (``n_gpu_layers != 0``) and a GPU whose free memory is
known, the offloaded share (layers offloaded / ``block_count``) of the weights,
the KV cache and the attention scores counts against video memory, the rest and the working
memory against RAM. Without such a GPU (e.g. a CPU-only llama.cpp build, where
``hardware.gpu_memory()`` is None) everything counts against RAM.

The suggested context is the largest power of two from 512 up, below the
requested one, whose estimate passes this same check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import InsufficientMemoryError
from ..fit import DEFAULT_OVERHEAD, estimate_fit, kv_bytes_per_token_from_gguf
from ..gguf_inspect import GGUFInfo
from ..hardware import GpuMemory, MemoryInfo

MIN_SUGGESTED_CTX = 512


@dataclass(frozen=True)
class MemoryNeed:
    """Bytes a load needs, split between RAM and video memory."""

    model_ram: int
    kv_ram: int
    model_vram: int
    kv_vram: int
    overhead: int = DEFAULT_OVERHEAD   # working memory in RAM, attention scores included
    scores_vram: int = 0               # the offloaded share of the attention scores

    @property
    def ram(self) -> int:
        return self.model_ram + self.kv_ram + self.overhead

    @property
    def vram(self) -> int:
        return self.model_vram + self.kv_vram + self.scores_vram


def gpu_share(n_gpu_layers: int, block_count: int | None) -> float:
    """The share of the layers llama.cpp puts on the GPU (-1: all of them)."""
    if n_gpu_layers < 0:
        return 1.0
    if n_gpu_layers == 0 or not block_count:
        return 0.0
    return min(n_gpu_layers, block_count) / block_count


def attention_scores_per_token(gguf: GGUFInfo, step_tokens: int) -> int:
    """Bytes of attention scores per context cell for a compute step of ``step_tokens``
    (f32, one per head); 0 when the head count is unknown or ``step_tokens`` is 0."""
    heads = gguf.metadata.get(f"{gguf.architecture}.attention.head_count")
    if isinstance(heads, tuple):
        heads = max(heads, default=0)
    return 4 * step_tokens * heads if isinstance(heads, int) and heads > 0 else 0


def memory_need(*, file_size: int, kv_bytes_per_token: int | None, n_ctx: int,
                share_on_gpu: float = 0.0, scores_per_token: int = 0) -> MemoryNeed:
    kv_cache = estimate_fit(file_size=file_size, kv_bytes_per_token=kv_bytes_per_token,
                            n_ctx=n_ctx, memory=None).kv_cache_bytes
    scores = scores_per_token * n_ctx
    model_vram, kv_vram = round(file_size * share_on_gpu), round(kv_cache * share_on_gpu)
    scores_vram = round(scores * share_on_gpu)
    return MemoryNeed(model_ram=file_size - model_vram, kv_ram=kv_cache - kv_vram,
                      model_vram=model_vram, kv_vram=kv_vram, scores_vram=scores_vram,
                      overhead=DEFAULT_OVERHEAD + scores - scores_vram)


def shortfall(need: MemoryNeed, memory: MemoryInfo | None,
              gpu: GpuMemory | None) -> tuple[int, int, bool] | None:
    """(needed, free, is_video_memory) for the memory that is clearly short, else None.
    Unknown figures never refuse a load."""
    free_ram = memory.available_bytes if memory is not None else None
    if free_ram is not None and need.ram > free_ram:
        return need.ram, free_ram, False
    if gpu is not None and need.vram > gpu.free_bytes:
        return need.vram, gpu.free_bytes, True
    return None


def suggest_context(need_at: Callable[[int], MemoryNeed], n_ctx: int,
                    memory: MemoryInfo | None, gpu: GpuMemory | None) -> int | None:
    """The largest power of two >= 512 and below ``n_ctx`` that fits, or None."""
    best, ctx = None, MIN_SUGGESTED_CTX
    while ctx < n_ctx and shortfall(need_at(ctx), memory, gpu) is None:
        best, ctx = ctx, ctx * 2
    return best


def check_memory(gguf: GGUFInfo, *, n_ctx: int, n_gpu_layers: int, model_name: str,
                 memory: MemoryInfo | None, gpu: GpuMemory | None,
                 step_tokens: int = 0) -> InsufficientMemoryError | None:
    """The error to raise if loading ``gguf`` at ``n_ctx`` clearly will not fit, else None.

    ``gpu`` is the GPU's free memory, or None when nothing is offloaded or the build
    cannot offload (then everything counts against RAM). ``step_tokens`` is llama.cpp's
    n_ubatch when flash attention is off (its attention scores are held per step), else 0.
    """
    kv_per_token = kv_bytes_per_token_from_gguf(gguf)
    scores_per_token = attention_scores_per_token(gguf, step_tokens)
    share = gpu_share(n_gpu_layers, gguf.block_count) if gpu is not None else 0.0

    def need_at(ctx: int) -> MemoryNeed:
        return memory_need(file_size=gguf.file_size, kv_bytes_per_token=kv_per_token,
                           n_ctx=ctx, share_on_gpu=share, scores_per_token=scores_per_token)

    need = need_at(n_ctx)
    short = shortfall(need, memory, gpu)
    if short is None:
        return None
    needed, free, video = short
    return InsufficientMemoryError(
        model_name=model_name, needed_bytes=needed, available_bytes=free,
        model_bytes=need.model_vram if video else need.model_ram,
        kv_cache_bytes=need.kv_vram if video else need.kv_ram,
        overhead_bytes=need.scores_vram if video else need.overhead, n_ctx=n_ctx,
        suggested_n_ctx=suggest_context(need_at, n_ctx, memory, gpu), video=video)
