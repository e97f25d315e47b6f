"""Threads chosen for the CPU as it really is (hardware.thread_choice, cpu_topology.py):
hyper-threads, hybrid CPUs, affinity, container quotas and other busy programs, read
from fake /sys and /proc trees."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from desktop_app.core import cpu_topology, hardware
from desktop_app.core.hardware import CpuInfo, thread_choice


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def topology(root: Path, cores: dict[int, tuple[int, int]]) -> None:
    """cpu -> (package, core id)"""
    for cpu, (package, core) in cores.items():
        write(root, f"sys/devices/system/cpu/cpu{cpu}/topology/core_id", f"{core}\n")
        write(root, f"sys/devices/system/cpu/cpu{cpu}/topology/physical_package_id",
              f"{package}\n")


def test_cpu_lists_parse():
    assert cpu_topology.parse_cpu_list("0-3,8,10-11\n") == {0, 1, 2, 3, 8, 10, 11}
    assert cpu_topology.parse_cpu_list("") == set()


def test_hyper_threads_count_once(tmp_path):
    # 4 cores with 2 threads each: CPUs n and n+4 are siblings.
    topology(tmp_path, {cpu: (0, cpu % 4) for cpu in range(8)})
    assert cpu_topology.physical_cores_of(set(range(8)), tmp_path) == 4
    assert cpu_topology.physical_cores_of({0, 4}, tmp_path) == 1   # one core's two threads
    assert cpu_topology.physical_cores_of({0, 1}, tmp_path) == 2
    assert cpu_topology.physical_cores_of({0}, tmp_path / "nothing") is None


def test_intel_hybrid_cpus_name_their_performance_cores(tmp_path):
    write(tmp_path, "sys/devices/cpu_core/cpus", "0-7\n")
    write(tmp_path, "sys/devices/cpu_atom/cpus", "8-15\n")
    assert cpu_topology.performance_cpus(tmp_path) == set(range(8))


def test_arm_big_little_by_capacity(tmp_path):
    for cpu, capacity in enumerate([446, 446, 446, 446, 1024, 1024, 1024, 1024]):
        write(tmp_path, f"sys/devices/system/cpu/cpu{cpu}/cpu_capacity", f"{capacity}\n")
    assert cpu_topology.performance_cpus(tmp_path) == {4, 5, 6, 7}
    alike = tmp_path / "alike"
    for cpu in range(4):
        write(alike, f"sys/devices/system/cpu/cpu{cpu}/cpu_capacity", "1024\n")
    assert cpu_topology.performance_cpus(alike) is None


def test_cgroup_v2_quota_on_the_process_path_and_its_parents(tmp_path):
    write(tmp_path, "proc/self/cgroup", "0::/user.slice/app.scope\n")
    write(tmp_path, "sys/fs/cgroup/user.slice/app.scope/cpu.max", "max 100000\n")
    write(tmp_path, "sys/fs/cgroup/user.slice/cpu.max", "250000 100000\n")
    assert cpu_topology.cgroup_cpu_quota(tmp_path) == 2.5
    write(tmp_path, "sys/fs/cgroup/user.slice/cpu.max", "max 100000\n")
    assert cpu_topology.cgroup_cpu_quota(tmp_path) is None


def test_cgroup_v1_quota(tmp_path):
    write(tmp_path, "proc/self/cgroup", "4:memory:/x\n1:cpu,cpuacct:/docker/abc\n")
    write(tmp_path, "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "150000\n")
    write(tmp_path, "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n")
    assert cpu_topology.cgroup_cpu_quota(tmp_path) == 1.5
    write(tmp_path, "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n")
    assert cpu_topology.cgroup_cpu_quota(tmp_path) is None


@pytest.mark.parametrize("cpu, busy, expected, why", [
    (CpuInfo(logical=2, physical=2, usable=2), None, 2, "2 physical cores usable"),
    (CpuInfo(logical=1, physical=1, usable=1), None, 1, "1 physical core usable"),
    (CpuInfo(logical=8, physical=4, usable=8), None, 4, "of 8 logical CPUs"),   # hyper-threads
    (CpuInfo(logical=16, physical=2, usable=2), None, 2, "2 physical cores"),   # affinity
    (CpuInfo(logical=20, physical=14, usable=20, performance=6), None, 6, "performance cores"),
    (CpuInfo(logical=32, physical=16, usable=32, quota=2.0), None, 2, "quota of 2 CPUs"),
    (CpuInfo(logical=32, physical=16, usable=32, quota=0.5), None, 1, "quota of 0.5 CPUs"),
    (CpuInfo(logical=2, physical=2, usable=2), 1.0, 1, "busy on 1.0 CPUs"),      # measured here
    (CpuInfo(logical=2, physical=2, usable=2), 0.2, 2, "2 physical cores usable"),
    (CpuInfo(logical=8, physical=8, usable=8), 2.6, 5, "busy on 2.6 CPUs"),
    (CpuInfo(logical=2, physical=2, usable=2), 7.0, 1, "busy on 7.0 CPUs"),
])
def test_thread_choice(cpu, busy, expected, why):
    choice = thread_choice(cpu, others_busy=busy)
    assert choice.threads == expected and why in choice.reason
    assert hardware.choose_threads(cpu, others_busy=busy) == expected


def test_an_override_wins_and_is_clamped():
    cpu = CpuInfo(logical=2, physical=2, usable=2)
    assert thread_choice(cpu, 3, others_busy=5.0) == hardware.ThreadChoice(3, "set in settings")
    assert hardware.choose_threads(cpu, 100000) == hardware.MAX_THREADS


def test_other_programs_cpu_use_leaves_this_process_out(tmp_path):
    """(busy jiffies of all CPUs - this process's) per elapsed jiffy of one CPU."""
    n = os.cpu_count() or 1
    samples = iter([(1000, 0, 10), (1000 + 150 * n, 100 * n, 10 + 50)])

    def set_sample(_seconds=None):
        busy, idle, own = next(samples)
        write(tmp_path, "proc/stat", f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 2 3\n")
        write(tmp_path, "proc/self/stat", "42 (python (x)) S " + " ".join(
            ["0"] * 10 + [str(own), "0"] + ["0"] * 30))

    set_sample()
    used = cpu_topology.other_cpu_use(root=tmp_path, sleep=set_sample)
    # elapsed: (150n + 100n) / n = 250 jiffies; others: 150n - 50 busy jiffies
    assert used == pytest.approx((150 * n - 50) / 250)
    assert cpu_topology.other_cpu_use(root=tmp_path / "none", sleep=set_sample) is None


def test_scalpels_own_parent_process_is_not_another_program(tmp_path):
    """The engine process's parent (the window, busy starting up while the model loads)
    is left out like the engine itself; a parent gone meanwhile counts nothing."""
    n = os.cpu_count() or 1
    samples = iter([(1000, 0, 10, 5), (1000 + 150 * n, 100 * n, 60, 5 + 100)])

    def set_sample(_seconds=None):
        busy, idle, own, parent = next(samples)
        write(tmp_path, "proc/stat", f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\n")
        for pid, jiffies in (("self", own), ("77", parent)):
            write(tmp_path, f"proc/{pid}/stat", "42 (python) S " + " ".join(
                ["0"] * 10 + [str(jiffies), "0"] + ["0"] * 30))

    set_sample()
    used = cpu_topology.other_cpu_use(root=tmp_path, sleep=set_sample, pids=("self", "77"))
    assert used == pytest.approx((150 * n - 50 - 100) / 250)
    meter = cpu_topology.OtherCpuUse(tmp_path, pids=("self", "999"))  # no such parent
    write(tmp_path, "proc/stat", f"cpu  {1000 + 300 * n} 0 0 {200 * n} 0 0 0 0 0 0\n")
    assert meter.so_far() == pytest.approx(150 * n / 250)
    assert cpu_topology.scalpel_pids() == ("self", str(os.getppid()))


def test_this_machine_is_read(tmp_path):
    cpu = hardware.cpu_info()
    assert 1 <= cpu.physical <= cpu.usable <= cpu.logical
    busy = cpu_topology.other_cpu_use(seconds=0.05)
    assert busy is None or busy >= 0
    assert 1 <= thread_choice(cpu, others_busy=busy).threads <= cpu.physical


# -- scalpel doctor: backends, devices, the offload a model would get, threads and why ---------
def test_doctor_lists_backends_devices_offload_and_the_thread_reason(scalpel_home, scalpel):
    result = scalpel("doctor", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    found = report["devices"]
    assert "CPU" in found["backends"]
    cpu = [d for d in found["devices"] if d["kind"] == "cpu"]
    assert cpu and cpu[0]["total_bytes"] > 0
    plan = report["offload"]
    assert plan["model"] == "smollm2-135m-instruct" and plan["block_count"] == 30
    if not any(d["kind"] in ("gpu", "igpu") for d in found["devices"]):
        assert plan["layers"] == 0 and plan["status"].startswith("CPU: ")
    assert "physical core" in report["cpu"]["threads_reason"]
    human = scalpel("doctor").stdout
    assert "llama.cpp backends: " in human and "Devices:" in human
    assert f"Offload for smollm2-135m-instruct: {plan['status']}" in human
    if plan["layers"] == 0:
        assert plan["flash_attn"] is True
        assert ("Flash attention for smollm2-135m-instruct: on (automatic: on while the model "
                "runs on the CPU)") in human
    assert f"threads: {report['cpu']['threads_reason']}" in human or \
        "other programs busy" in human  # measured again, so it may differ a little


def test_doctor_shows_an_explicit_layer_count_from_the_settings(scalpel_home, scalpel):
    (scalpel_home / "config").mkdir(parents=True)
    (scalpel_home / "config" / "settings.json").write_text('{"n_gpu_layers": 0}')
    report = json.loads(scalpel("doctor", "--json").stdout)
    assert report["offload"]["explicit"] is True
    assert report["offload"]["status"] == "CPU: GPU offload is off in the settings"


class _Quiet:
    """No other program used a CPU during the (injected) measurement."""

    def so_far(self) -> float:
        return 0.0


def test_doctor_shows_the_cached_thread_measurement_and_its_figures(scalpel_home, scalpel):
    from desktop_app.core.engine.thread_probe import ThreadProbe
    from desktop_app.core.paths import Paths
    from desktop_app.core.services import build_services

    first = json.loads(scalpel("doctor", "--json").stdout)["cpu"]
    if first["threads_measured"] is None:
        pytest.skip("one usable core: threads are not measured")
    assert first["threads_measured"]["measurement"] is None
    assert "not measured yet for smollm2-135m-instruct" in first["threads_reason"]
    services = build_services(Paths.under(scalpel_home))
    model = services.default_model().path
    probe = ThreadProbe.in_cache_dir(services.paths.cache_dir,
                                     measure=lambda llama, counts: {1: 148.0, 2: 171.0},
                                     others_during=_Quiet)
    probe.choose(None, services.cpu, model, n_gpu_layers=0, others_busy=0.0)
    report = json.loads(scalpel("doctor", "--json").stdout)["cpu"]
    measured = report["threads_measured"]["measurement"]
    assert measured["tokens_per_s"] == {"1": 148.0, "2": 171.0} and measured["best"] == 2
    assert "fastest measured here: 171 tok/s at 2 threads vs 148 at 1" in report["threads_reason"]
    assert report["threads_chosen"] in (1, 2)  # 1 only while other programs are busy
    human = scalpel("doctor").stdout
    assert "measured for smollm2-135m-instruct on " in human
    assert "  2 threads    171.0 tok/s  <- fastest" in human
