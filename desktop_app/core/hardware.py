"""What this machine offers inference: cores, memory, GPU offload.

Thread choice matters more than anything else for speed on a laptop. llama.cpp
spins its worker threads and meets them at a barrier per step, so running more
of them than there are free, alike, physical cores is disastrous: measured on a
2-core machine with one other busy process, 2 threads fell to 1-3 tok/s while 1
thread kept 18 tok/s. On the same machine idle, 2 threads decode ~15% faster
than 1 (benchmarks/results.md, "Hardware"). So the choice (``thread_choice``) is
every usable physical core (affinity, hybrid CPUs' performance cores only,
a container's quota: cpu_topology.py), less the cores other processes are busy
on when the model loads, and says why. Where the engine may measure, a model's
first load on a machine times decoding at a few counts up to that bound and
keeps the fastest (engine/thread_probe.py); ``busy_limit`` still lowers it.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

from . import cpu_topology

log = logging.getLogger(__name__)

MAX_THREADS = 512  # GGML_MAX_N_THREADS: llama.cpp crashes (SIGSEGV) when given more


@dataclass(frozen=True)
class CpuInfo:
    logical: int
    physical: int  # physical cores among the usable CPUs (hyper-threads count once)
    usable: int  # CPUs this process may run on (affinity)
    performance: int | None = None  # physical performance cores usable, on a hybrid CPU
    quota: float | None = None  # a container's CPU quota, in CPUs


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


def _usable_set(logical: int) -> set[int]:
    try:
        return set(os.sched_getaffinity(0)) or set(range(logical))
    except (AttributeError, OSError):
        return set(range(logical))


def _usable_cpus(logical: int) -> int:
    return max(1, min(len(_usable_set(logical)), logical))


def cpu_info(root=cpu_topology.ROOT) -> CpuInfo:
    """This machine's CPUs as this process may use them (``root``: a fake /, for tests)."""
    logical = os.cpu_count() or 1
    usable_set = _usable_set(logical)
    usable = max(1, min(len(usable_set), logical))
    physical = cpu_topology.physical_cores_of(usable_set, root)
    if physical is None:  # no /sys topology: the whole machine's count, bounded by affinity
        physical = min(_physical_cores() or logical, usable)
    fast = cpu_topology.performance_cpus(root)
    performance = None
    if fast is not None and fast & usable_set:
        performance = cpu_topology.physical_cores_of(fast & usable_set, root)
    return CpuInfo(logical=logical, physical=max(1, min(physical, logical)), usable=usable,
                   performance=performance, quota=cpu_topology.cgroup_cpu_quota(root))


BUSY_IGNORED = 0.3  # CPUs' worth of other work too small to give a core up for


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    reason: str  # what bounded it, for ``scalpel doctor``

    def to_dict(self) -> dict[str, object]:
        return {"threads": self.threads, "reason": self.reason}


def thread_choice(cpu: CpuInfo, override: int | None = None, *,
                  others_busy: float | None = None) -> ThreadChoice:
    """Threads for llama.cpp and why: the override if given, else every usable physical
    core (performance cores only on a hybrid CPU, within a container's quota) less the
    cores other processes keep busy (``others_busy``, in CPUs, measured at load by
    ``cpu_topology.other_cpu_use``). An override is only clamped to 1..MAX_THREADS (with
    a warning): llama.cpp crashes beyond that."""
    if override:
        clamped = min(max(1, override), MAX_THREADS)
        if clamped != override:
            log.warning("n_threads %d is outside 1..%d; using %d", override, MAX_THREADS, clamped)
        return ThreadChoice(clamped, "set in settings")
    cores = max(1, min(cpu.physical, cpu.usable))
    reasons = [f"{cores} physical core{'s' if cores != 1 else ''} usable"
               + (f" of {cpu.logical} logical CPUs" if cpu.logical != cores else "")]
    if cpu.performance is not None and cpu.performance < cores:
        cores = max(1, cpu.performance)
        reasons.append(f"{cores} of them performance cores (hybrid CPU: efficiency cores "
                       "would hold the others back)")
    if cpu.quota is not None and cpu.quota < cores:
        cores = max(1, math.floor(cpu.quota + 0.01))
        reasons.append(f"a CPU quota of {cpu.quota:g} CPUs")
    threads, busy = busy_limit(cores, others_busy)
    if busy:
        reasons.append(busy)
    return ThreadChoice(threads, "; ".join(reasons))


def busy_limit(threads: int, others_busy: float | None) -> tuple[int, str | None]:
    """``threads`` less the cores other programs keep busy (``others_busy``, in CPUs), and
    the words for it (None when they take too little to matter). Also applied to a
    measured choice (engine/thread_probe.py): a measurement cannot know who runs now."""
    if others_busy is None or others_busy < BUSY_IGNORED:
        return threads, None
    taken = math.ceil(others_busy - BUSY_IGNORED)
    return max(1, threads - max(1, taken)), f"other programs busy on {others_busy:.1f} CPUs"


def choose_threads(cpu: CpuInfo, override: int | None = None, *,
                   others_busy: float | None = None) -> int:
    """``thread_choice``'s number."""
    return thread_choice(cpu, override, others_busy=others_busy).threads


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
