"""Will a model fit in this machine's memory? A deliberately simple estimate.

Memory needed to run a GGUF with llama.cpp is roughly:

    model file (mmapped weights)
  + KV cache: bytes per token x context size (f16 cache)
  + a fixed overhead for compute buffers and the runtime (300 MB by default)

When the KV size per token is unknown it is guessed as 15% of the file size.
The verdict compares that with free and total memory:

* "fits"      needed <= 70% of available memory
* "tight"     needed <= available, or needed <= 90% of total (the OS can free
              caches, but other programs may get slow)
* "wont_fit"  otherwise
* "unknown"   no memory figures (e.g. psutil missing)

Where the llama.cpp build can offload and a GPU is detectable, its free video
memory is counted too: a model that fits there entirely "fits" (on the GPU).

How fast it will answer: writing one token reads every weight once (for a mixture
of experts, the active share), so on a CPU the speed is about the machine's memory
bandwidth over the bytes read per token. The bandwidth is measured once (a numpy
copy of a 256 MB buffer, best of a few, ~0.3 s, off the GUI thread) and cached
(``memory_bandwidth``); ``estimate_speed`` turns it into tokens per second with
``DECODE_EFFICIENCY``, compared with a measured answer on the starter in
benchmarks/results.md ("Fit: estimated vs measured speed").
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from .gguf_inspect import GGUFInfo
from .hardware import GpuMemory, MemoryInfo

GB = 1024 ** 3
DEFAULT_OVERHEAD = 300 * 2 ** 20
UNKNOWN_KV_SHARE = 0.15   # KV guess as a share of the file size
FITS_SHARE = 0.7          # of available memory
TIGHT_TOTAL_SHARE = 0.9   # of total memory

_LABELS = {"fits": "Fits", "tight": "Tight", "wont_fit": "Won't fit", "unknown": "Unknown"}
BANDWIDTH_BUFFER = 256 * 2 ** 20
BANDWIDTH_MAX_AGE_S = 30 * 24 * 3600
# tokens/s = DECODE_EFFICIENCY x copy bandwidth (bytes read + written per second) / bytes
# read per token. llama.cpp's CPU decode streams weights at about 40% of what a numpy copy
# counts (it reads only, and not at full speed); benchmarks/results.md compares this with
# measured answers.
DECODE_EFFICIENCY = 0.4
SLOW_TOKENS_PER_S = 4.0   # below this an answer of a few paragraphs takes over a minute


def _gb(n_bytes: int) -> str:
    return f"{n_bytes / GB:.1f} GB"


@dataclass(frozen=True)
class FitEstimate:
    verdict: str                 # "fits" | "tight" | "wont_fit" | "unknown"
    needed_bytes: int            # file + KV cache for n_ctx + overhead
    available_bytes: int | None
    total_bytes: int | None
    kv_cache_bytes: int
    detail: str                  # multi-line text for a tooltip
    tokens_per_s: float | None = None   # estimated answer speed here (None: not measured)

    @property
    def label(self) -> str:
        """"Fits · ~40 tok/s", "Tight · ~3 tok/s (slow)", "Won't fit": how well, how fast."""
        base = _LABELS.get(self.verdict, "Unknown")
        if self.tokens_per_s is None or self.verdict in ("wont_fit", "unknown"):
            return base
        slow = " (slow)" if self.tokens_per_s < SLOW_TOKENS_PER_S else ""
        return f"{base} · ~{_speed(self.tokens_per_s)} tok/s{slow}"

    @property
    def rank(self) -> float:
        """A sort key: fits before tight before won't fit, faster first within each."""
        order = {"fits": 0, "tight": 1, "unknown": 2, "wont_fit": 3}.get(self.verdict, 2)
        return order * 1e6 - (self.tokens_per_s or 0.0)

    def with_speed(self, *, bandwidth_bps: float | None, file_size: int,
                   active_share: float = 1.0) -> "FitEstimate":
        """This estimate with the answer speed from a measured memory bandwidth."""
        if not bandwidth_bps:
            return self
        speed = estimate_speed(file_size=file_size, bandwidth_bps=bandwidth_bps,
                               active_share=active_share)
        slow = (" That is slow: a few paragraphs take over a minute."
                if speed < SLOW_TOKENS_PER_S else "")
        line = (f"Answers at about {_speed(speed)} tokens a second here (estimated from the "
                f"file size and this machine's measured memory speed, "
                f"{bandwidth_bps / 1e9:.0f} GB/s).{slow}")
        return replace(self, tokens_per_s=speed, detail=self.detail + "\n" + line)


def _speed(tokens_per_s: float) -> str:
    return f"{tokens_per_s:.0f}" if tokens_per_s >= 10 else f"{tokens_per_s:.1f}"


def estimate_speed(*, file_size: int, bandwidth_bps: float, active_share: float = 1.0) -> float:
    """Tokens a second when each token reads ``file_size x active_share`` bytes of weights."""
    per_token = max(1.0, file_size * max(0.01, min(1.0, active_share)))
    return DECODE_EFFICIENCY * bandwidth_bps / per_token


def measure_memory_bandwidth(*, size: int = BANDWIDTH_BUFFER, repeats: int = 4) -> float | None:
    """Bytes a second a big memory copy moves (read + write), best of ``repeats``; None
    without numpy. Takes about 0.1-0.5 s: call it off the GUI thread."""
    try:
        import numpy as np
    except ImportError:
        return None
    src = np.ones(size, dtype=np.uint8)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # first touch: page faults are not bandwidth
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * size / best if best > 0 else None


def memory_bandwidth(cache_file: Path, *, max_age_s: float = BANDWIDTH_MAX_AGE_S,
                     measure: Callable[[], float | None] = measure_memory_bandwidth,
                     now: Callable[[], float] = time.time) -> float | None:
    """The cached bandwidth, measured again when missing, older than ``max_age_s`` or made
    on a machine with another CPU count; written atomically (temp file + os.replace)."""
    cpus = os.cpu_count() or 0
    try:
        data = json.loads(Path(cache_file).read_text(encoding="utf-8"))
        value, measured_at = float(data["bytes_per_s"]), float(data["measured_at"])
        if value > 0 and data.get("cpus") == cpus and now() - measured_at < max_age_s:
            return value
    except (OSError, ValueError, KeyError, TypeError):
        pass
    value = measure()
    if value:
        cache_file = Path(cache_file)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        temp = cache_file.with_name(cache_file.name + ".tmp")
        temp.write_text(json.dumps({"bytes_per_s": value, "measured_at": now(), "cpus": cpus}),
                        encoding="utf-8")
        os.replace(temp, cache_file)
    return value


def _verdict(needed: int, available: int | None, total: int | None) -> str:
    if available is None and total is None:
        return "unknown"
    if available is not None and needed <= FITS_SHARE * available:
        return "fits"
    if (available is not None and needed <= available) or \
            (total is not None and needed <= TIGHT_TOTAL_SHARE * total):
        return "tight"
    return "wont_fit"


_MEANINGS = {
    "fits": "It should run comfortably alongside your other programs.",
    "tight": "It may run, but close other programs first; the system may swap and slow down.",
    "wont_fit": "This machine does not have enough memory for it; pick a smaller model "
                "or a shorter context.",
    "unknown": "Scalpel could not read how much memory this machine has.",
}


def estimate_fit(*, file_size: int, kv_bytes_per_token: int | None, n_ctx: int,
                 memory: MemoryInfo | None, gpu: GpuMemory | None = None,
                 overhead_bytes: int = DEFAULT_OVERHEAD) -> FitEstimate:
    """Estimate memory for ``file_size`` bytes of weights at ``n_ctx`` tokens of context."""
    file_size, n_ctx = max(0, int(file_size)), max(0, int(n_ctx))
    guessed = kv_bytes_per_token is None
    kv_cache = (int(file_size * UNKNOWN_KV_SHARE) if guessed
                else int(kv_bytes_per_token) * n_ctx)
    needed = file_size + kv_cache + overhead_bytes
    available = memory.available_bytes if memory is not None else None
    total = memory.total_bytes if memory is not None else None
    verdict = _verdict(needed, available, total)
    fits_on_gpu = gpu is not None and needed <= gpu.free_bytes
    if fits_on_gpu:
        verdict = "fits"

    kv_note = "guessed as 15% of the file" if guessed else f"for {n_ctx:,} tokens of context"
    lines = [
        f"Needs about {_gb(needed)}: {_gb(file_size)} model file + {_gb(kv_cache)} "
        f"context cache ({kv_note}) + {_gb(overhead_bytes)} working memory.",
    ]
    if available is not None or total is not None:
        free = _gb(available) if available is not None else "unknown"
        of_total = f" of {_gb(total)} total" if total is not None else ""
        lines.append(f"Free memory now: {free}{of_total}.")
    if gpu is not None:
        where = "all of it fits there" if fits_on_gpu else "not all of it fits there"
        lines.append(f"GPU {gpu.name}: {_gb(gpu.free_bytes)} free of {_gb(gpu.total_bytes)} "
                     f"video memory; {where}.")
    lines.append(_MEANINGS[verdict])
    return FitEstimate(verdict=verdict, needed_bytes=needed, available_bytes=available,
                       total_bytes=total, kv_cache_bytes=kv_cache, detail="\n".join(lines))


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def kv_bytes_per_token_from_gguf(info: GGUFInfo) -> int | None:
    """f16 KV-cache bytes per token from a GGUF header, or None if the keys are missing.

    ``head_count_kv`` may be one number or a per-layer tuple (some layers have
    none); it defaults to ``head_count``. K and V sizes per head come from
    ``key_length``/``value_length``, else ``embedding_length / head_count``.
    """
    arch, n_layers = info.architecture, info.block_count
    if not arch or not n_layers:
        return None
    meta = info.metadata
    head_count = meta.get(f"{arch}.attention.head_count")
    kv_heads = meta.get(f"{arch}.attention.head_count_kv", head_count)
    if isinstance(kv_heads, tuple):
        per_layer = [_int(h) for h in kv_heads]
        if len(per_layer) != n_layers or any(h is None for h in per_layer):
            return None
        total_kv_heads = sum(per_layer)
    elif _int(kv_heads) is not None:
        total_kv_heads = kv_heads * n_layers
    else:
        return None
    heads = _int(head_count) if not isinstance(head_count, tuple) else max(head_count, default=0)
    embedding = _int(meta.get(f"{arch}.embedding_length"))
    default_dim = embedding // heads if embedding and heads else None
    key_len = _int(meta.get(f"{arch}.attention.key_length")) or default_dim
    value_len = _int(meta.get(f"{arch}.attention.value_length")) or default_dim
    if not key_len or not value_len:
        return None
    return total_kv_heads * (key_len + value_len) * 2
