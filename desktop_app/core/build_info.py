"""Which Scalpel, Python and llama.cpp build this install carries, read without loading them.

The window's process never loads libllama (tests/test_layers.py), yet Help > About and
the problem report name the llama.cpp build and its backends. llama-cpp-python installs
one shared library per ggml backend beside libllama (``libggml-cpu.so``,
``ggml-cuda.dll``, ``libggml-metal.dylib``, ...), so the file names say which backends
the build has; the package's own metadata gives its version. ``importlib.util.find_spec``
finds a top-level package's folder without running its ``__init__``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__

LLAMA_PACKAGE = "llama-cpp-python"
QT_PACKAGES = ("PySide6-Essentials", "PySide6")

# ggml's backend library names -> what people call them.
BACKEND_NAMES = {
    "cpu": "CPU", "cuda": "CUDA (NVIDIA)", "metal": "Metal (Apple)", "vulkan": "Vulkan",
    "hip": "ROCm/HIP (AMD)", "sycl": "SYCL (Intel)", "opencl": "OpenCL", "blas": "BLAS",
    "musa": "MUSA (Moore Threads)", "cann": "CANN (Ascend)", "rpc": "RPC",
    "kompute": "Kompute", "webgpu": "WebGPU", "zdnn": "zDNN",
}
GPU_BACKENDS = frozenset({"cuda", "metal", "vulkan", "hip", "sycl", "opencl", "musa",
                          "cann", "kompute", "webgpu"})
_BACKEND_FILE = re.compile(r"^(?:lib)?ggml-([a-z0-9]+)[.-]", re.IGNORECASE)
_VERSIONED_BASE = re.compile(r"^libggml-base\.so\.(\d+\.\d+\.\d+)$")
_LIBRARY_SUFFIXES = (".so", ".dll", ".dylib")


@dataclass(frozen=True)
class LlamaBuild:
    """The installed llama.cpp build as its files describe it."""

    package_version: str | None          # llama-cpp-python's version (None: not installed)
    ggml_version: str | None = None      # from libggml-base.so.X.Y.Z (Linux builds)
    backends: tuple[str, ...] = ()       # ggml backend ids: "cpu", "cuda", ...
    lib_dir: str | None = None

    @property
    def gpu_backends(self) -> tuple[str, ...]:
        return tuple(b for b in self.backends if b in GPU_BACKENDS)

    def backend_names(self) -> list[str]:
        return [BACKEND_NAMES.get(b, b) for b in self.backends]

    def to_dict(self) -> dict[str, Any]:
        return {"package_version": self.package_version, "ggml_version": self.ggml_version,
                "backends": list(self.backends), "lib_dir": self.lib_dir}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LlamaBuild":
        return cls(package_version=data.get("package_version"),
                   ggml_version=data.get("ggml_version"),
                   backends=tuple(data.get("backends") or ()), lib_dir=data.get("lib_dir"))


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def llama_lib_dir() -> Path | None:
    """llama_cpp's ``lib`` folder, found without importing llama_cpp."""
    try:
        spec = importlib.util.find_spec("llama_cpp")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        lib = Path(location) / "lib"
        if lib.is_dir():
            return lib
    return None


def backends_in(names: list[str]) -> tuple[str, ...]:
    """The ggml backends named by library files (``libggml-cpu-haswell.so`` is "cpu")."""
    found: list[str] = []
    for name in names:
        if not any(suffix in name for suffix in _LIBRARY_SUFFIXES):
            continue
        match = _BACKEND_FILE.match(name)
        backend = match.group(1).lower() if match else None
        if backend and backend != "base" and backend not in found:
            found.append(backend)
    return tuple(sorted(found, key=lambda b: (b != "cpu", b)))


def llama_build(*, lib_dir: Path | None = None) -> LlamaBuild:
    """The llama.cpp build in ``lib_dir`` (default: the installed llama_cpp's)."""
    version = package_version(LLAMA_PACKAGE)
    lib = lib_dir or llama_lib_dir()
    if lib is None:
        return LlamaBuild(package_version=version)
    try:
        names = sorted(p.name for p in lib.iterdir())
    except OSError:
        names = []
    ggml = next((m.group(1) for n in names if (m := _VERSIONED_BASE.match(n))), None)
    return LlamaBuild(package_version=version, ggml_version=ggml, backends=backends_in(names),
                      lib_dir=str(lib))


def versions() -> dict[str, str | None]:
    """Scalpel's, Python's and the main libraries' versions (metadata only)."""
    qt = next((v for name in QT_PACKAGES if (v := package_version(name))), None)
    return {"scalpel": __version__, "python": sys.version.split()[0],
            "platform": platform.platform(), LLAMA_PACKAGE: package_version(LLAMA_PACKAGE),
            "pyside6": qt, "huggingface-hub": package_version("huggingface-hub")}
