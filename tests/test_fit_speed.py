"""The Fit column's speed estimate: a measured, cached memory bandwidth turned into tokens
a second from the file size (the active share for a mixture of experts)."""

from __future__ import annotations

import json

import pytest

from desktop_app.core.fit import (DECODE_EFFICIENCY, SLOW_TOKENS_PER_S, estimate_fit,
                                  estimate_speed, measure_memory_bandwidth, memory_bandwidth)
from desktop_app.core.hardware import MemoryInfo

GB = 1024 ** 3


def fit(file_size: int, memory_gb: float = 24.0):
    memory = MemoryInfo(total_bytes=int(memory_gb * GB), available_bytes=int(memory_gb * GB))
    return estimate_fit(file_size=file_size, kv_bytes_per_token=None, n_ctx=4096, memory=memory)


def test_speed_falls_with_file_size_and_a_moe_reads_only_its_active_share():
    small = estimate_speed(file_size=100_000_000, bandwidth_bps=10e9)
    big = estimate_speed(file_size=5_000_000_000, bandwidth_bps=10e9)
    assert small == pytest.approx(DECODE_EFFICIENCY * 10e9 / 100e6)
    assert small / big == pytest.approx(50)
    moe = estimate_speed(file_size=5_000_000_000, bandwidth_bps=10e9, active_share=0.25)
    assert moe == pytest.approx(4 * big)


def test_the_label_says_how_well_and_how_fast_and_flags_slow_models():
    quick = fit(1_000_000_000).with_speed(bandwidth_bps=200e9, file_size=1_000_000_000)
    assert quick.tokens_per_s == pytest.approx(DECODE_EFFICIENCY * 200) and quick.tokens_per_s > 10
    assert quick.label == f"Fits · ~{quick.tokens_per_s:.0f} tok/s"
    assert "tokens a second" in quick.detail and "200 GB/s" in quick.detail
    slow_size = int(DECODE_EFFICIENCY * 5e9 / (SLOW_TOKENS_PER_S / 2))
    slow = fit(slow_size).with_speed(bandwidth_bps=5e9, file_size=slow_size)
    assert slow.label.endswith("(slow)") and "That is slow" in slow.detail
    too_big = fit(40 * GB, memory_gb=8).with_speed(bandwidth_bps=20e9, file_size=40 * GB)
    assert too_big.label == "Won't fit"   # no speed for what cannot run
    assert quick.rank < slow.rank < too_big.rank
    assert fit(GB).with_speed(bandwidth_bps=None, file_size=GB).label == "Fits"


def test_bandwidth_is_measured_once_then_cached_and_measured_again_when_stale(tmp_path):
    cache = tmp_path / "cache" / "memory-bandwidth.json"
    calls: list[int] = []

    def measure() -> float:
        calls.append(1)
        return 12e9

    clock = [1000.0]
    assert memory_bandwidth(cache, measure=measure, now=lambda: clock[0]) == 12e9
    assert memory_bandwidth(cache, measure=measure, now=lambda: clock[0]) == 12e9
    assert len(calls) == 1 and json.loads(cache.read_text())["bytes_per_s"] == 12e9
    assert not list(cache.parent.glob("*.tmp"))   # written with a temp file + os.replace
    clock[0] += 31 * 24 * 3600
    memory_bandwidth(cache, measure=measure, now=lambda: clock[0])
    assert len(calls) == 2
    cache.write_text("{not json")
    assert memory_bandwidth(cache, measure=measure, now=lambda: clock[0]) == 12e9
    assert len(calls) == 3


def test_the_real_measurement_gives_a_plausible_bandwidth():
    value = measure_memory_bandwidth(size=32 * 2 ** 20, repeats=2)
    assert value is not None and 0.2e9 < value < 2000e9
