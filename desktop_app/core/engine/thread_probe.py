"""Threads for decoding, measured once per machine and model, then remembered.

Which thread count decodes fastest depends on more than the core count: memory
bandwidth (a small model saturates it with fewer threads), hyper-threading,
hybrid cores, a container's quota, how llama.cpp's barrier behaves on this
kernel. ``hardware.thread_choice`` bounds the count from the topology; within
that bound only a measurement tells. So at a model's first load on a machine,
with threads left automatic, the probe decodes a few dozen one-token steps at
each candidate count on the context just opened (``llama_set_n_threads``: no
reload), clears them from the KV cache, and keeps the fastest; fewer threads
win ties within ``TIE``, since a spare core helps everything else.

Cost on SmolLM2-135M, 2 candidate counts: 4 warm-up decodes and 2 rounds of
16 per count, about 70 decodes: ~0.5 s on a quiet 2-core machine, 0.8-1 s beside
another busy program. A bigger model decodes fewer steps (each run gets about
``BUDGET_S`` / candidates / rounds, at least ``MIN_STEPS``), and nothing new
starts past twice the budget. The one thing it cannot bound is a single decode:
beside a busy program, llama.cpp at 2 threads on 2 cores took up to 5 s for one
token here, which is why nothing is measured while the load-time sample shows
other programs busy, and a measurement they disturbed is not kept.

The result is cached as JSON in the cache folder (``thread-choice.json``),
keyed by the machine (CPU model, logical CPUs, the usable CPU set, a quota),
the llama.cpp build, the model file (path, size, mtime) and its GPU layers,
so later loads only read it. Other programs busy at load still lower the count
(``hardware.busy_limit``); a probe is not run, nor its result kept, while
other programs are busy (it would measure them, not this machine).
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from .. import cpu_topology, hardware
from ..json_files import JsonFileError, read_json_file

log = logging.getLogger(__name__)

CACHE_NAME = "thread-choice.json"
FORMAT = 1
MAX_ENTRIES = 64        # machines x models remembered; the oldest go first
MAX_CANDIDATES = 4
TIE = 0.03              # within 3% of the fastest, the fewest threads win
STEPS = 16              # one-token decodes per candidate per round
ROUNDS = 2              # rounds, in alternating order, so drift hits every count alike
MIN_STEPS = 2
WARMUP_STEPS = 4        # the first decodes after a load fault the weights in
BUDGET_S = 1.5          # the whole measurement's rough ceiling, on any model
QUIET_BELOW = 0.5       # CPUs' worth of other work during the probe it tolerates


def candidate_counts(limit: int) -> list[int]:
    """Up to ``MAX_CANDIDATES`` counts from 1 to ``limit``, evenly spread, both ends in."""
    if limit <= MAX_CANDIDATES:
        return list(range(1, max(1, limit) + 1))
    step = (limit - 1) / (MAX_CANDIDATES - 1)
    return sorted({round(1 + i * step) for i in range(MAX_CANDIDATES)})


@dataclass(frozen=True)
class ThreadMeasurement:
    """What one probe found: decode tokens/s per thread count, and the count chosen."""
    best: int
    tokens_per_s: dict[int, float]
    measured_at: str          # ISO 8601, UTC
    seconds: float = 0.0      # what the probe cost

    def to_dict(self) -> dict[str, object]:
        return {"best": self.best, "measured_at": self.measured_at, "seconds": self.seconds,
                "tokens_per_s": {str(n): tps for n, tps in sorted(self.tokens_per_s.items())}}

    @classmethod
    def from_dict(cls, data: dict) -> "ThreadMeasurement":
        rates = {int(n): float(tps) for n, tps in dict(data["tokens_per_s"]).items()}
        best = int(data["best"])
        if best not in rates or any(n < 1 or tps < 0 for n, tps in rates.items()):
            raise ValueError("a thread measurement whose best count was not measured")
        return cls(best, rates, str(data["measured_at"]), float(data.get("seconds", 0.0)))

    def describe(self, *, cached: bool) -> str:
        """"fastest measured here: 171 tok/s at 2 threads vs 148 at 1 (2026-11-30, cached)"."""
        others = [f"{self.tokens_per_s[n]:.0f} at {n}" for n in sorted(self.tokens_per_s)
                  if n != self.best]
        vs = f" vs {', '.join(others)}" if others else ""
        plural = "s" if self.best != 1 else ""
        return (f"fastest measured here: {self.tokens_per_s[self.best]:.0f} tok/s at "
                f"{self.best} thread{plural}{vs} ({self.measured_at[:10]}"
                f"{', cached' if cached else ''})")


def pick_fastest(rates: dict[int, float], tie: float = TIE) -> int:
    """The fewest threads within ``tie`` of the fastest rate."""
    top = max(rates.values())
    return min(n for n, tps in rates.items() if tps >= top * (1 - tie))


def measure_decode(llama, counts: list[int], *, steps: int = STEPS, rounds: int = ROUNDS,
                   budget_s: float = BUDGET_S,
                   clock: Callable[[], float] = time.perf_counter) -> dict[int, float]:
    """Decode tokens/s of ``llama``'s context at each of ``counts``, from one-token decodes
    of fixed pseudo-random tokens; the KV cache is empty again afterwards, whatever
    happens. The caller sets the thread count it wants next.

    Bounded in time but for a single decode: each run stops after its share of
    ``budget_s``, and nothing new starts once twice the budget is spent (one decode
    cannot be cut short: beside a busy process, 2 threads took seconds for one here)."""
    from . import llama_api

    ctx = llama.ctx
    vocab = llama_api.vocab_size(llama_api.model_vocab(llama))
    tokens = random.Random(18).sample(range(vocab), min(vocab, steps + WARMUP_STEPS))
    decode = llama_api.decode_function()
    one, batch = llama_api.one_token_batch()

    def run(n: int, limit_s: float) -> tuple[int, float]:
        """(decodes done, seconds) from an empty cache: ``n``, or fewer past ``limit_s``."""
        llama_api.drop_positions_from(ctx, 0)
        started = clock()
        for done, token in enumerate(tokens[:n], 1):
            one[0] = token
            if decode(ctx, batch) != 0:
                raise RuntimeError("llama.cpp refused a decode while measuring threads")
            if clock() - started > limit_s:
                break
        return done, clock() - started

    try:
        # The warm-up faults the weights in, at 1 thread: the one count that never
        # collapses when another program takes a core.
        llama_api.set_threads(llama, min(counts))
        warm_done, warm_s = run(WARMUP_STEPS, budget_s / 4)
        warm = warm_s / warm_done  # per token at 1 thread: the slowest a count should be
        per_run = budget_s / (len(counts) * rounds)
        steps = max(MIN_STEPS, min(steps, int(per_run / max(warm, 1e-6))))
        spent: dict[int, float] = {n: 0.0 for n in counts}
        done: dict[int, int] = {n: 0 for n in counts}
        order, begun = sorted(counts), clock()
        for round_ in range(rounds):
            if round_ and clock() - begun > budget_s:  # a big model: one round is enough
                break
            for n in order if round_ % 2 == 0 else reversed(order):
                if clock() - begun > 2 * budget_s and any(done.values()):
                    break  # out of time: the counts not reached stay unmeasured
                llama_api.set_threads(llama, n)
                ran, seconds = run(steps, 2 * per_run)
                spent[n] += seconds
                done[n] += ran
            if round_ == 0:  # a count far behind after one round is not measured again
                rates = {n: done[n] / spent[n] for n in order if spent[n] > 0}
                order = [n for n in rates if rates[n] >= 0.7 * max(rates.values())]
        return {n: round(done[n] / spent[n], 1) for n in counts if spent[n] > 0}
    finally:
        llama_api.drop_positions_from(ctx, 0)


def machine_key(cpu: hardware.CpuInfo, root: Path = cpu_topology.ROOT) -> dict[str, object]:
    """What makes this machine this machine, as a thread measurement sees it."""
    try:
        usable = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = set(range(cpu.logical))
    return {"cpu": cpu_topology.cpu_model_name(root), "logical": cpu.logical,
            "usable": cpu_topology.format_cpu_list(usable), "physical": cpu.physical,
            "performance": cpu.performance, "quota": cpu.quota}


def model_key(path: str | Path, n_gpu_layers: int | None) -> dict[str, object]:
    """The model file as loaded (path, size, mtime) and how much of it runs on a GPU."""
    st = os.stat(path)
    return {"path": str(Path(path).resolve()), "size": st.st_size,
            "mtime_ns": st.st_mtime_ns, "gpu_layers": n_gpu_layers or 0}


def _llama_build() -> str:
    from . import llama_api

    return llama_api.version()


def _other_programs_meter() -> cpu_topology.OtherCpuUse:
    return cpu_topology.OtherCpuUse(pids=cpu_topology.scalpel_pids())


@dataclass(frozen=True)
class ThreadProbe:
    """Measures (``measure``: (llama, counts) -> tokens/s per count) and remembers in
    ``cache_file``. ``others_during`` starts a meter of other programs' CPU use during
    the measurement (``cpu_topology.OtherCpuUse``); ``build`` names the llama.cpp build."""
    cache_file: Path
    measure: Callable = measure_decode
    others_during: Callable = _other_programs_meter
    build: Callable[[], str] = _llama_build
    machine: Callable[[hardware.CpuInfo], dict] = machine_key
    now: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))

    @classmethod
    def in_cache_dir(cls, cache_dir: Path, **options) -> "ThreadProbe":
        return cls(Path(cache_dir) / CACHE_NAME, **options)

    def key(self, cpu: hardware.CpuInfo, model_path: str | Path,
            n_gpu_layers: int | None) -> dict[str, object]:
        return {"machine": self.machine(cpu), "llama_cpp": self.build(),
                "model": model_key(model_path, n_gpu_layers)}

    def cached(self, cpu: hardware.CpuInfo, model_path: str | Path,
               n_gpu_layers: int | None) -> ThreadMeasurement | None:
        """The measurement kept for this machine and model file, if any (no measuring)."""
        key = self.key(cpu, model_path, n_gpu_layers)
        for entry in self._entries():
            if entry.get("key") == key:
                try:
                    return ThreadMeasurement.from_dict(entry["measurement"])
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("ignored a damaged entry in %s: %s", self.cache_file, exc)
        return None

    def choose(self, llama, cpu: hardware.CpuInfo, model_path: str | Path, *,
               n_gpu_layers: int | None, others_busy: float | None) -> hardware.ThreadChoice:
        """The thread count for ``llama`` (just opened on ``model_path``) and why: the
        cached measurement, else a measurement now when the machine is quiet, else
        ``thread_choice``'s; lowered while other programs are busy. Never raises for a
        failed measurement or cache file: it logs and falls back."""
        bound = hardware.thread_choice(cpu)
        fallback = hardware.thread_choice(cpu, others_busy=others_busy)
        counts = candidate_counts(bound.threads)
        if len(counts) < 2:
            return fallback
        try:
            key = self.key(cpu, model_path, n_gpu_layers)
            found = self.cached(cpu, model_path, n_gpu_layers)
        except (OSError, ValueError) as exc:
            log.warning("threads not measured (%s); %s", exc, fallback.reason)
            return fallback
        if found is not None:
            return combine(found, cpu, others_busy, cached=True)
        if others_busy is not None and others_busy >= hardware.BUSY_IGNORED:
            return _note(fallback, "not measured while other programs are busy")
        try:
            meter = self.others_during()
            started = time.perf_counter()
            rates = self.measure(llama, counts)
            seconds = time.perf_counter() - started
            during = meter.so_far()
        except Exception as exc:  # noqa: BLE001 - a failed probe must not fail the load
            log.warning("measuring threads failed (%s: %s); %s", type(exc).__name__, exc,
                        fallback.reason)
            return _note(fallback, "measuring failed")
        if not rates:
            return _note(fallback, "measuring failed")
        measured = ThreadMeasurement(pick_fastest(rates), rates,
                                     self.now().strftime("%Y-%m-%dT%H:%M:%SZ"), round(seconds, 3))
        log.info("threads measured in %.2f s: %s tok/s per count; others busy meanwhile: %s",
                 seconds, rates, during)
        not_kept = None
        if during is not None and during >= QUIET_BELOW:  # it measured them, not this machine
            not_kept = f"other programs used {during:.1f} CPUs meanwhile"
        elif set(rates) != set(counts):
            not_kept = "the measurement ran out of time"
        if not_kept:  # used for this load, not remembered
            return _note(combine(measured, cpu, others_busy, cached=False), f"not kept: {not_kept}")
        self._save(key, measured)
        return combine(measured, cpu, others_busy, cached=False)

    # -- the cache file ------------------------------------------------------------
    def _entries(self) -> list[dict]:
        try:
            data = read_json_file(self.cache_file, max_bytes=1 << 20)
        except JsonFileError as exc:
            if not exc.missing:
                log.warning("thread measurements ignored (measured again): %s", exc)
            return []
        if not isinstance(data, dict) or data.get("format") != FORMAT or \
                not isinstance(data.get("entries"), list):
            log.warning("thread measurements ignored (measured again): %s is not a "
                        "measurement file of this version", self.cache_file)
            return []
        return [e for e in data["entries"] if isinstance(e, dict)]

    def _save(self, key: dict, measured: ThreadMeasurement) -> None:
        entries = [e for e in self._entries() if e.get("key") != key]
        entries = (entries + [{"key": key, "measurement": measured.to_dict()}])[-MAX_ENTRIES:]
        temp = self.cache_file.with_name(f"{self.cache_file.name}.{os.getpid()}.tmp")
        try:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            temp.write_text(json.dumps({"format": FORMAT, "entries": entries}, indent=1),
                            encoding="utf-8")
            os.replace(temp, self.cache_file)
        except OSError as exc:  # measured again next time; nothing else is lost
            log.warning("thread measurement not saved to %s: %s", self.cache_file, exc)
            temp.unlink(missing_ok=True)


def combine(measured: ThreadMeasurement, cpu: hardware.CpuInfo, others_busy: float | None,
            *, cached: bool) -> hardware.ThreadChoice:
    """The measured best, lowered by other programs busy now (``hardware.busy_limit``)."""
    cap, busy = hardware.busy_limit(hardware.thread_choice(cpu).threads, others_busy)
    threads = min(measured.best, cap)
    described = measured.describe(cached=cached)
    if busy and threads < measured.best:
        return hardware.ThreadChoice(threads, f"{busy} ({described})")
    return hardware.ThreadChoice(threads, described)


def _note(choice: hardware.ThreadChoice, note: str) -> hardware.ThreadChoice:
    return hardware.ThreadChoice(choice.threads, f"{choice.reason}; {note}")


def default_probe() -> ThreadProbe | None:
    """The probe caching in this user's cache folder (paths.py), or None (and a log line)
    when the folders cannot be worked out: threads are then chosen from the topology."""
    from ..errors import ConfigError
    from ..paths import Paths

    try:
        return ThreadProbe.in_cache_dir(Paths.from_environment().cache_dir)
    except (ConfigError, OSError) as exc:
        log.warning("thread measurements off: no cache folder (%s)", exc)
        return None
