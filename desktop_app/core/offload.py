"""How many of a model's layers go on the GPU, chosen from the device's free memory.

``n_gpu_layers`` "auto" (the default, ``None`` in LoadOptions) puts as many
repeating layers on the best GPU as fit in its free memory after the KV cache
for the context, llama.cpp's compute buffer and a safety margin; all of them
(and the output layer) when the whole model fits. An explicit number in the
settings or the policy wins. The figures come from the GGUF's metadata
(gguf_inspect, fit) and from the devices llama.cpp lists in the engine process
(engine/ggml_devices.py): this module is pure, so the choice is tested with
simulated devices (tests/test_offload.py).

``OffloadPlan.status`` is the sentence the status line, Model details and
``scalpel doctor`` show: "GPU (Vulkan, llvmpipe): 30/30 layers", "CPU: this
build has no GPU backend", "12 of 28 layers on the GPU: 1.1 GB free".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

MB = 2 ** 20
GB = 2 ** 30
# Kept free on the device: drivers, the desktop's own use, other apps' allocations
# between the look and the load. 10% of the device, at least 256 MB, at most 1 GB.
MARGIN_MIN, MARGIN_MAX, MARGIN_SHARE = 256 * MB, GB, 0.10
GPU_KINDS = ("gpu", "igpu")


@dataclass(frozen=True)
class Device:
    """One device llama.cpp can compute on, as ggml's backend registry lists it."""

    name: str            # "Vulkan0", "CPU"
    description: str     # "llvmpipe (LLVM 15.0.6, 256 bits)"
    backend: str         # "Vulkan", "CUDA", "CPU"
    kind: str            # "cpu", "gpu", "igpu", "accel"
    free_bytes: int
    total_bytes: int

    @property
    def is_gpu(self) -> bool:
        return self.kind in GPU_KINDS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Device":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class ModelShape:
    """What offloading a model costs, per layer, from its GGUF (see ``model_shape``)."""

    block_count: int
    layer_bytes: int       # weights of one repeating layer
    output_bytes: int      # weights outside the layers (embeddings, output head)
    kv_bytes_per_layer: int  # the KV cache of one layer at the load's context
    compute_bytes: int     # llama.cpp's compute buffer on the device


@dataclass(frozen=True)
class OffloadPlan:
    layers: int            # what llama.cpp is given: 0 none, -1 all (with the output layer)
    block_count: int
    device: Device | None = None
    reason: str = ""       # why, when not all layers are on a GPU
    explicit: bool = False  # set in settings or policy, not chosen
    backends: tuple[str, ...] = field(default_factory=tuple)

    @property
    def offloaded(self) -> int:
        if self.layers < 0:
            return self.block_count
        return min(self.layers, self.block_count)

    @property
    def status(self) -> str:
        if self.device is None or self.offloaded == 0:
            return f"CPU: {self.reason}" if self.reason else "CPU"
        where = f"GPU ({self.device.backend}, {short_name(self.device.description)})"
        if self.offloaded >= self.block_count:
            return f"{where}: {self.block_count}/{self.block_count} layers"
        text = f"{self.offloaded} of {self.block_count} layers on the GPU"
        return f"{text}: {self.reason}" if self.reason else text

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status
        return data


def short_name(description: str) -> str:
    """"llvmpipe (LLVM 15.0.6, 256 bits)" -> "llvmpipe"; "NVIDIA GeForce RTX 4060" as is."""
    return description.split(" (")[0].strip() or description


def margin_for(device: Device) -> int:
    return int(min(MARGIN_MAX, max(MARGIN_MIN, device.total_bytes * MARGIN_SHARE)))


def best_gpu(devices: list[Device]) -> Device | None:
    """The GPU with the most free memory (a discrete one before an integrated one on a tie)."""
    gpus = [d for d in devices if d.is_gpu]
    return max(gpus, key=lambda d: (d.free_bytes, d.kind == "gpu"), default=None)


def _size(n_bytes: int) -> str:
    return f"{n_bytes / GB:.1f} GB" if n_bytes >= GB else f"{n_bytes / MB:.0f} MB"


def plan_offload(shape: ModelShape, devices: list[Device], *, requested: int | None,
                 backends: tuple[str, ...] = (), gpu_build: bool | None = None) -> OffloadPlan:
    """Layers to offload. ``requested``: None for "auto", else the person's number (-1: all).
    ``backends`` are the registered backends' names; ``gpu_build`` whether any of them is
    a GPU backend (default: any backend but CPU/BLAS/RPC)."""
    n = shape.block_count
    device = best_gpu(devices)
    if gpu_build is None:
        gpu_build = any(b not in ("CPU", "BLAS", "RPC") for b in backends)
    base = OffloadPlan(layers=0, block_count=n, device=device, backends=tuple(backends))
    if requested is not None:
        if requested == 0:
            return _with(base, reason="GPU offload is off in the settings", explicit=True)
        if device is None:
            return _with(base, reason=_no_gpu(gpu_build, backends), explicit=True)
        return _with(base, layers=requested, explicit=True, reason="the number set in settings")
    if device is None:
        return _with(base, reason=_no_gpu(gpu_build, backends))
    budget = device.free_bytes - margin_for(device) - shape.compute_bytes
    per_layer = shape.layer_bytes + shape.kv_bytes_per_layer
    if budget >= per_layer * n + shape.output_bytes:
        return _with(base, layers=-1)
    fit = max(0, min(n, budget // per_layer)) if per_layer > 0 else 0
    free = f"{_size(device.free_bytes)} free"
    if fit == 0:
        return _with(base, reason=f"not one layer fits in the GPU's {free}")
    return _with(base, layers=int(fit), reason=free)


def flash_attention(requested: bool | None, plan: OffloadPlan) -> tuple[bool, str]:
    """Whether a load uses llama.cpp's flash attention, and why (engine/types.py's
    LoadOptions.flash_attn has the measurements). ``requested``: the settings' value,
    None for "auto": on while every layer runs on the CPU, off once layers go to a GPU,
    where a device without the kernel would send attention back to the CPU."""
    if requested is not None:
        return requested, "set in settings"
    if plan.device is not None and plan.offloaded > 0:
        return False, "automatic: off while layers run on a GPU"
    return True, "automatic: on while the model runs on the CPU"


def _with(plan: OffloadPlan, **changes: Any) -> OffloadPlan:
    from dataclasses import replace

    return replace(plan, **changes)


def _no_gpu(gpu_build: bool, backends: tuple[str, ...]) -> str:
    if not gpu_build:
        return "this build has no GPU backend"
    gpu_backends = ", ".join(b for b in backends if b not in ("CPU", "BLAS", "RPC"))
    return f"no GPU found by the {gpu_backends} backend (driver missing or no device)"


def model_shape(*, block_count: int | None, parameter_count: int, file_size: int,
                metadata: dict[str, Any], architecture: str | None,
                kv_bytes_per_token: int | None, n_ctx: int, step_tokens: int) -> ModelShape:
    """Per-layer costs from GGUF metadata: a repeating layer's share of the parameters
    (attention + feed-forward from the embedding, head and feed-forward sizes), the rest
    (embeddings, output head) outside the layers; bytes in proportion to the file."""
    n = max(1, int(block_count or 1))
    arch = architecture or ""

    def meta(key: str) -> int | None:
        value = metadata.get(f"{arch}.{key}")
        if isinstance(value, (tuple, list)):
            value = max(value, default=None)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    embd, ff = meta("embedding_length"), meta("feed_forward_length")
    heads, kv_heads = meta("attention.head_count"), meta("attention.head_count_kv")
    layer_share = None
    if embd and ff and heads and parameter_count > 0:
        kv_dim = embd * (kv_heads or heads) // heads
        layer_params = embd * embd * 2 + embd * kv_dim * 2 + 3 * embd * ff
        layer_share = min(1.0, layer_params * n / parameter_count) / n
    if layer_share is None:  # unknown shape: the output counted as one more layer
        layer_share = 1.0 / (n + 1)
    layer_bytes = int(file_size * layer_share)
    kv_per_layer = (kv_bytes_per_token or 0) * n_ctx // n
    heads_for_scores = heads or 0
    compute = 4 * step_tokens * heads_for_scores * n_ctx + 64 * MB  # scores + activations
    return ModelShape(block_count=n, layer_bytes=layer_bytes,
                      output_bytes=max(0, file_size - layer_bytes * n),
                      kv_bytes_per_layer=kv_per_layer, compute_bytes=compute)
