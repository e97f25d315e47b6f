"""What the CPU really offers this process, read from Linux's /sys and /proc.

llama.cpp's decoding runs as fast as its slowest thread (every thread meets at
a barrier per graph step), so the thread count must count only cores that are
really ours and alike:
- physical cores, not hyper-threads (two threads on one core share its units);
- only the CPUs in this process's affinity mask (``taskset``, cpusets);
- a container's CPU quota (cgroup ``cpu.max``, or v1's ``cpu.cfs_quota_us``):
  a 2-CPU quota on a 16-core host throttles 16 spinning threads hard;
- on hybrid CPUs (Intel's performance + efficiency cores, Arm big.LITTLE) the
  performance cores only: a thread on an efficiency core holds back the rest;
- CPUs other processes are busy on right now (``other_cpu_use``: two threads
  beside one busy process fell to 1-3 tok/s here, one thread kept 18).

Every reader takes ``root`` (a folder standing for "/") so tests build fake
trees; each returns None when the file is absent (not Linux, no cgroup, ...).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

ROOT = Path("/")


def parse_cpu_list(text: str) -> set[int]:
    """"0-3,8,10-11" -> {0, 1, 2, 3, 8, 10, 11} (the kernel's cpulist format)."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        if not part.strip():
            continue
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None


def physical_cores_of(cpus: set[int], root: Path = ROOT) -> int | None:
    """Distinct (package, core) pairs among ``cpus``: hyper-thread siblings count once."""
    cores = set()
    for cpu in cpus:
        topology = root / f"sys/devices/system/cpu/cpu{cpu}/topology"
        core, package = _read(topology / "core_id"), _read(topology / "physical_package_id")
        if core is None:
            return None
        cores.add((package.strip() if package else "0", core.strip()))
    return len(cores) or None


def performance_cpus(root: Path = ROOT) -> set[int] | None:
    """The performance cores' CPUs on a hybrid CPU, else None (all cores alike).

    Intel hybrid CPUs expose two PMUs, ``cpu_core`` (P) and ``cpu_atom`` (E); Arm
    big.LITTLE gives each CPU a ``cpu_capacity`` (the biggest are the big cores).
    """
    core = _read(root / "sys/devices/cpu_core/cpus")
    atom = _read(root / "sys/devices/cpu_atom/cpus")
    if core and atom and core.strip() and atom.strip():
        return parse_cpu_list(core)
    capacities: dict[int, int] = {}
    for path in (root / "sys/devices/system/cpu").glob("cpu[0-9]*/cpu_capacity"):
        text = _read(path)
        if text and text.strip().isdigit():
            capacities[int(path.parent.name[3:])] = int(text)
    if capacities and len(set(capacities.values())) > 1:
        top = max(capacities.values())
        return {cpu for cpu, capacity in capacities.items() if capacity >= top * 0.8}
    return None


def cgroup_cpu_quota(root: Path = ROOT) -> float | None:
    """The tightest CPU quota (in CPUs) on this process's cgroup path, or None."""
    membership = _read(root / "proc/self/cgroup") or ""
    quotas = []
    for line in membership.splitlines():
        _id, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":  # cgroup v2: cpu.max = "<quota|max> <period>"
            base = root / "sys/fs/cgroup"
            for folder in _with_parents(base, path):
                quotas.append(_v2_quota(_read(folder / "cpu.max")))
        elif "cpu" in controllers.split(","):
            for base in (root / "sys/fs/cgroup/cpu", root / "sys/fs/cgroup/cpu,cpuacct"):
                for folder in _with_parents(base, path):
                    quotas.append(_v1_quota(_read(folder / "cpu.cfs_quota_us"),
                                            _read(folder / "cpu.cfs_period_us")))
    found = [q for q in quotas if q is not None]
    return min(found) if found else None


def _with_parents(base: Path, path: str) -> list[Path]:
    parts = [p for p in path.strip().split("/") if p]
    return [base.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]


def _v2_quota(text: str | None) -> float | None:
    if not text:
        return None
    quota, _, period = text.strip().partition(" ")
    if quota == "max" or not quota.isdigit() or not period.isdigit() or int(period) == 0:
        return None
    return int(quota) / int(period)


def _v1_quota(quota: str | None, period: str | None) -> float | None:
    try:
        q, p = int((quota or "").strip()), int((period or "").strip())
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def _cpu_times(root: Path) -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs together, from /proc/stat's first line."""
    text = _read(root / "proc/stat")
    if not text or not text.startswith("cpu "):
        return None
    values = [int(v) for v in text.splitlines()[0].split()[1:9]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def _own_jiffies(root: Path, pids: tuple[str, ...] = ("self",)) -> int | None:
    """utime + stime of the processes ``pids`` (all their threads), the first ("self")
    required; one gone meanwhile (a parent) counts nothing."""
    total = 0
    for n, pid in enumerate(pids):
        text = _read(root / f"proc/{pid}/stat")
        if not text:
            if n == 0:
                return None
            continue
        fields = text.rsplit(")", 1)[-1].split()
        total += int(fields[11]) + int(fields[12])
    return total


def scalpel_pids() -> tuple[str, ...]:
    """This process and its parent: the engine process's parent is Scalpel's own window
    or command, whose work at a model's load (drawing, starting up) is not another
    program competing for the cores."""
    return ("self", str(os.getppid()))


class OtherCpuUse:
    """Counts, from its creation on, the CPU time other processes take (this process's
    own threads left out): ``so_far()`` is their CPUs' worth since then, or None where
    /proc cannot tell. Around a measurement it says whether others disturbed it."""

    def __init__(self, root: Path = ROOT, *, pids: tuple[str, ...] = ("self",)) -> None:
        self._root, self._pids = root, pids
        self._before, self._own_before = _cpu_times(root), _own_jiffies(root, pids)

    def so_far(self) -> float | None:
        if self._before is None or self._own_before is None:
            return None
        after, own_after = _cpu_times(self._root), _own_jiffies(self._root, self._pids)
        if after is None or own_after is None:
            return None
        n_cpus = os.cpu_count() or 1
        elapsed = (after[1] - self._before[1]) / n_cpus  # jiffies per CPU
        if elapsed <= 0:
            return None
        busy = (after[0] - self._before[0]) - (own_after - self._own_before)
        return max(0.0, busy / elapsed)


def other_cpu_use(*, seconds: float = 0.25, root: Path = ROOT,
                  sleep: Callable[[float], None] = time.sleep,
                  pids: tuple[str, ...] = ("self",)) -> float | None:
    """CPUs' worth of work other processes did over the next ``seconds`` (this process's
    own threads left out, and those of ``pids``), or None where /proc cannot tell."""
    meter = OtherCpuUse(root, pids=pids)
    if meter._before is None or meter._own_before is None:
        return None
    sleep(seconds)
    return meter.so_far()


def other_programs_cpu_use(*, seconds: float = 0.25) -> float | None:
    """``other_cpu_use`` with Scalpel's own processes left out (``scalpel_pids``)."""
    return other_cpu_use(seconds=seconds, pids=scalpel_pids())


def cpu_model_name(root: Path = ROOT) -> str:
    """The CPU's model as /proc/cpuinfo names it ("model name", or Arm's "Hardware" /
    "Processor"), else the platform's word for it: part of what makes this machine this
    machine for measurements cached on it."""
    text = _read(root / "proc/cpuinfo") or ""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "processor", "cpu model") and value.strip():
            found.setdefault(key, value.strip())
    for key in ("model name", "cpu model", "hardware"):
        if key in found:
            return found[key]
    if not found.get("processor", "").isdigit() and found.get("processor"):
        return found["processor"]
    import platform

    return platform.processor() or platform.machine() or "unknown CPU"


def format_cpu_list(cpus: set[int]) -> str:
    """{0, 1, 2, 3, 8} -> "0-3,8" (the kernel's cpulist format; ``parse_cpu_list``'s inverse)."""
    runs: list[list[int]] = []
    for cpu in sorted(cpus):
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)
