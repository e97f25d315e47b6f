"""llama.cpp's backends and devices, through ggml's backend registry (ctypes).

A llama.cpp built with ``GGML_BACKEND_DL`` (the packaged build: every CPU
variant plus Vulkan, packaging/linux/build.sh) keeps each backend in a library
of its own, ``libggml-cpu-haswell.so``, ``libggml-vulkan.so``..., and registers
none of them by itself: llama.cpp's own search looks beside the *executable*
(python) and in the current directory, so a model load would fail with "no
backends are loaded". ``load_backends`` loads them from llama-cpp-python's
``lib`` folder instead: ggml picks the best CPU variant this CPU can run (so
no AVX2 requirement, AVX-512 used where present), and a GPU backend whose
driver is missing (no ``libvulkan.so.1``) is skipped, not fatal. A build
without ``GGML_BACKEND_DL`` registers its backends at start and is left alone.

``list_devices`` reports each device's backend, kind and free memory as plain
``offload.Device`` data, for the engine's offload choice and ``scalpel doctor``.
This module is imported only by ``llama_api`` (which hands it the ``lib``
folder), so it never loads libllama by itself.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from pathlib import Path

from ..offload import Device

log = logging.getLogger(__name__)

# enum ggml_backend_dev_type (ggml-backend.h)
_KINDS = {0: "cpu", 1: "gpu", 2: "igpu", 3: "accel", 4: "meta"}


class _Caps(ctypes.Structure):
    _fields_ = [("async_", ctypes.c_bool), ("host_buffer", ctypes.c_bool),
                ("buffer_from_host_ptr", ctypes.c_bool), ("events", ctypes.c_bool),
                ("mmap_support", ctypes.c_bool)]


class _Props(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("description", ctypes.c_char_p),
                ("memory_free", ctypes.c_size_t), ("memory_total", ctypes.c_size_t),
                ("type", ctypes.c_int), ("device_id", ctypes.c_char_p), ("caps", _Caps)]


class _Feature(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("value", ctypes.c_char_p)]


def _ggml_library(lib_dir: Path) -> Path:
    """The libggml file libllama itself links (by its soname, ``libggml.so.0``): a wheel
    holds ``libggml.so`` and ``libggml.so.0`` as two copies, and opening the other one
    would give a second registry, whose backends llama.cpp never sees."""
    names = {"win32": ("ggml.dll",), "darwin": ("libggml.0.dylib", "libggml.dylib")}.get(
        sys.platform, ("libggml.so.0", "libggml.so"))
    for name in names:
        if (lib_dir / name).exists():
            return lib_dir / name
    return lib_dir / names[-1]


class GgmlRegistry:
    """ggml's backend registry in this process (libggml, already loaded by llama_cpp)."""

    def __init__(self, lib_dir: Path) -> None:
        self.lib_dir = Path(lib_dir)
        lib = ctypes.CDLL(str(_ggml_library(self.lib_dir)))
        vp, sz = ctypes.c_void_p, ctypes.c_size_t
        for name, res, args in (
                ("ggml_backend_reg_count", sz, []), ("ggml_backend_reg_get", vp, [sz]),
                ("ggml_backend_reg_name", ctypes.c_char_p, [vp]),
                ("ggml_backend_reg_get_proc_address", vp, [vp, ctypes.c_char_p]),
                ("ggml_backend_dev_count", sz, []), ("ggml_backend_dev_get", vp, [sz]),
                ("ggml_backend_dev_backend_reg", vp, [vp]),
                ("ggml_backend_dev_get_props", None, [vp, ctypes.POINTER(_Props)]),
                ("ggml_backend_load_all_from_path", None, [ctypes.c_char_p])):
            function = getattr(lib, name)
            function.restype, function.argtypes = res, args
        self._lib = lib
        self.dynamic = False  # backends loaded from files by load_backends

    def load_backends(self) -> None:
        """Register the backends in ``lib_dir`` when none is (a GGML_BACKEND_DL build)."""
        if self._lib.ggml_backend_reg_count() == 0:
            self._lib.ggml_backend_load_all_from_path(str(self.lib_dir).encode())
            self.dynamic = True
            log.info("llama.cpp backends loaded from %s: %s", self.lib_dir,
                     ", ".join(self.backend_names()) or "none")

    def backend_names(self) -> list[str]:
        lib = self._lib
        return [(lib.ggml_backend_reg_name(lib.ggml_backend_reg_get(i)) or b"?").decode()
                for i in range(lib.ggml_backend_reg_count())]

    def cpu_features(self) -> dict[str, str]:
        """The CPU backend's compiled features (the variant ggml chose: {"AVX2": "1", ...})."""
        lib = self._lib
        for i in range(lib.ggml_backend_reg_count()):
            reg = lib.ggml_backend_reg_get(i)
            if lib.ggml_backend_reg_name(reg) != b"CPU":
                continue
            address = lib.ggml_backend_reg_get_proc_address(reg, b"ggml_backend_get_features")
            if not address:
                return {}
            get = ctypes.CFUNCTYPE(ctypes.POINTER(_Feature), ctypes.c_void_p)(address)
            features, item = {}, get(reg)
            for k in range(256):
                if not item[k].name:
                    break
                features[item[k].name.decode()] = (item[k].value or b"").decode()
            return features
        return {}

    def devices(self) -> list[Device]:
        lib = self._lib
        found = []
        for i in range(lib.ggml_backend_dev_count()):
            dev = lib.ggml_backend_dev_get(i)
            props = _Props()
            lib.ggml_backend_dev_get_props(dev, ctypes.byref(props))
            backend = lib.ggml_backend_reg_name(lib.ggml_backend_dev_backend_reg(dev)) or b"?"
            found.append(Device(
                name=(props.name or b"").decode("utf-8", "replace"),
                description=(props.description or b"").decode("utf-8", "replace"),
                backend=backend.decode("utf-8", "replace"),
                kind=_KINDS.get(props.type, "other"),
                free_bytes=int(props.memory_free), total_bytes=int(props.memory_total)))
        return found


_registry: GgmlRegistry | None = None


def registry(lib_dir: Path) -> GgmlRegistry:
    """The process's registry, its backends loaded (once)."""
    global _registry
    if _registry is None:
        _registry = GgmlRegistry(lib_dir)
        _registry.load_backends()
    return _registry
