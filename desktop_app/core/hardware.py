"""What this machine offers inference: cores, memory, GPU offload.

Thread choice matters more than anything else for speed on a laptop. llama.cpp
spins its worker threads, so running more of them than there are free physical
cores is disastrous: measured on a 2-core machine with one other busy process,
2 threads fell to 1-3 tok/s while 1 thread kept 18 tok/s. Scalpel therefore
never uses more threads than physical cores and keeps one core for the GUI.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

log = logging.getLogger(__name__)

MAX_THREADS = 512  # GGML_MAX_N_THREADS: llama.cpp crashes (SIGSEGV) when given more


@dataclass(frozen=True)
class CpuInfo:
    logical: int
    physical: int
    usable: int  # CPUs this process may run on (affinity / cgroup quota)


def _physical_cores() -> int | None:
    try:
        import psutil
    except ImportError:  # optional: fall back to /proc on Linux
        return _physical_cores_from_proc()
    return psutil.cpu_count(logical=False)


def _physical_cores_from_proc() -> int | None:
    try:
        text = open("/proc/cpuinfo", encoding="ascii", errors="replace").read()
    except OSError:
        return None
    cores = set()
    physical_id = core_id = None
    for line in text.splitlines() + [""]:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            physical_id = value.strip()
        elif key == "core id":
            core_id = value.strip()
        elif not line.strip() and core_id is not None:
            cores.add((physical_id, core_id))
            physical_id = core_id = None
    return len(cores) or None


def _usable_cpus(logical: int) -> int:
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = logical
    return max(1, min(usable, logical))


def cpu_info() -> CpuInfo:
    logical = os.cpu_count() or 1
    physical = _physical_cores() or logical
    return CpuInfo(logical=logical, physical=min(physical, logical),
                   usable=_usable_cpus(logical))


def choose_threads(cpu: CpuInfo, override: int | None = None) -> int:
    """Threads for llama.cpp: the override if given, else one core left free.

    Physical cores bound it (hyper-threads slow llama.cpp down), and so does
    the CPU affinity the process was given. An override is only clamped to
    1..MAX_THREADS (with a warning): llama.cpp crashes beyond that.
    """
    if override:
        clamped = min(max(1, override), MAX_THREADS)
        if clamped != override:
            log.warning("n_threads %d is outside 1..%d; using %d", override, MAX_THREADS, clamped)
        return clamped
    cores = min(cpu.physical, cpu.usable)
    return max(1, cores - 1)


@dataclass(frozen=True)
class MemoryInfo:
    total_bytes: int | None
    available_bytes: int | None


def memory_info() -> MemoryInfo:
    try:
        import psutil
    except ImportError:
        return MemoryInfo(None, None)
    vm = psutil.virtual_memory()
    return MemoryInfo(total_bytes=vm.total, available_bytes=vm.available)


@dataclass(frozen=True)
class GpuMemory:
    name: str
    total_bytes: int
    free_bytes: int


def parse_nvidia_smi(text: str) -> list[GpuMemory]:
    """Rows of ``nvidia-smi --query-gpu=name,memory.total,memory.free
    --format=csv,noheader,nounits`` (sizes in MiB)."""
    gpus = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.rsplit(",", 2)]
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            gpus.append(GpuMemory(parts[0], int(parts[1]) << 20, int(parts[2]) << 20))
    return gpus


def gpu_offload_supported() -> bool:
    """Whether this llama.cpp build can put layers on a GPU (loads llama.cpp, through the
    engine package: only it touches llama_cpp)."""
    try:
        from .engine import llama_api
    except Exception:  # noqa: BLE001 - a broken native build means no offload
        return False
    return llama_api.supports_gpu_offload()


def gpu_memory() -> GpuMemory | None:
    """The NVIDIA GPU with the most free video memory, when one is detectable.

    Only used where the llama.cpp build can offload. Other GPUs are not
    detected: the fit estimate then says it counted RAM only. (Apple Silicon
    shares RAM with its GPU, so the RAM estimate is the right one there.)
    """
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None or not gpu_offload_supported():
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,memory.free",
             "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=3)
    except (OSError, subprocess.SubprocessError):
        return None
    gpus = parse_nvidia_smi(out.stdout) if out.returncode == 0 else []
    return max(gpus, key=lambda g: g.free_bytes, default=None)
