"""Read a GGUF file's header ourselves, so a bad file gets a reason.

llama.cpp only says "Failed to load model". This reader checks the magic, the
version, the metadata and the tensor table, and that the tensor data the header
promises fits in the file. Large arrays (the tokenizer vocabulary) are skipped,
not read into memory; absurd counts are refused instead of allocated.

Hyperparameters that would crash llama.cpp rather than fail (a layer count
outside 1..512 trips a GGML_ASSERT that aborts the process; a trained context
of 2**31 or more breaks tokenizing) are refused here, before llama.cpp sees
the file.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .errors import (ModelFileError, ModelNotFoundError, NotGGUFError, TruncatedModelError,
                     UnsupportedGGUFError, format_size)

MAGIC = b"GGUF"
MAX_COUNT = 10_000_000          # tensors or metadata keys; real models have < 100k
MAX_STRING = 64 * 1024 * 1024   # one metadata string; chat templates are a few KB
MAX_SMALL_ARRAY = 64            # arrays up to this length are kept in metadata
MAX_DIMS = 4                    # GGML_MAX_DIMS
MAX_NESTING = 4                 # arrays of arrays; real files use none
DEFAULT_ALIGNMENT = 32
MAX_LAYERS = 512                # llama.cpp's LLAMA_MAX_LAYERS; outside 1..512 it aborts
MAX_CONTEXT_LENGTH = 2**26      # 67M tokens; the longest real models claim ~10M. Tokenizing
                                # allocates a buffer this long, and 2**31 overflows llama.cpp
_CHUNK = 1 << 20

# ggml type id: (name, elements per block, bytes per block)
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17),
}

# general.file_type (llama_ftype) -> the name people know the quantization by
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    38: "MXFP4_MOE",
}

# metadata value type -> struct (8 = string and 9 = array are handled apart)
_SCALARS = {t: struct.Struct(f) for t, f in {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
    10: "<Q", 11: "<q", 12: "<d"}.items()}
_STRING, _ARRAY = 8, 9
_U32, _U64 = _SCALARS[4], _SCALARS[10]


@dataclass(frozen=True)
class GGUFInfo:
    """What a GGUF header says about the model; small arrays are tuples."""

    path: str
    file_size: int
    version: int
    tensor_count: int
    metadata: dict[str, object]
    array_lengths: dict[str, int]   # arrays too long to keep: key -> element count
    data_offset: int
    data_end: int | None            # None if a tensor has a type this table lacks
    parameter_count: int
    tensor_types: dict[str, int]    # ggml type name -> number of tensors

    def _get(self, key: str, kind: type) -> Any:
        value = self.metadata.get(key)
        return value if isinstance(value, kind) and not isinstance(value, bool) else None

    @property
    def architecture(self) -> str | None:
        return self._get("general.architecture", str)

    @property
    def name(self) -> str | None:
        return self._get("general.name", str)

    @property
    def context_length(self) -> int | None:
        return self._get(f"{self.architecture}.context_length", int)

    @property
    def block_count(self) -> int | None:
        return self._get(f"{self.architecture}.block_count", int)

    @property
    def chat_template(self) -> str | None:
        return self._get("tokenizer.chat_template", str)

    @property
    def file_type(self) -> str | None:
        """general.file_type as llama.cpp names it, e.g. "Q4_K_M"."""
        return FILE_TYPES.get(self._get("general.file_type", int))

    def quantization_label(self) -> str:
        """The file type, else the most common non-F32 tensor type, else "unknown"."""
        if self.file_type:
            return self.file_type
        quantized = Counter({k: v for k, v in self.tensor_types.items() if k != "F32"})
        return quantized.most_common(1)[0][0] if quantized else "unknown"


class _Reader:
    """Little-endian reads over a 1 MB window; reading past the end raises."""

    def __init__(self, stream: BinaryIO, path: str, size: int) -> None:
        self._f, self.path, self.name, self.size = stream, path, Path(path).name, size
        self._buf, self._base, self._pos = b"", 0, 0  # file offset of _buf[0]; index in _buf

    def tell(self) -> int:
        return self._base + self._pos

    def error(self, reason: str) -> ModelFileError:
        return ModelFileError(f"{self.name} has a corrupt header: {reason}", path=self.path)

    def unsupported(self, value_type: int, key: str) -> UnsupportedGGUFError:
        return UnsupportedGGUFError(
            f"{self.name} uses metadata type {value_type} (key {key!r}), which Scalpel cannot "
            "read; the file may be corrupt or newer than this version", path=self.path)

    def truncated(self) -> TruncatedModelError:
        return TruncatedModelError(
            "model file is truncated: it ends inside its header "
            f"({format_size(self.size)}): {self.name}", path=self.path, actual_size=self.size)

    def _ensure(self, n: int) -> None:
        """Make ``n`` bytes from tell() available in the window."""
        if self._pos + n <= len(self._buf):
            return
        start = self.tell()
        if n > self.size - start:
            raise self.truncated()
        self._f.seek(start)
        self._buf, self._base, self._pos = self._f.read(max(n, _CHUNK)), start, 0

    def read(self, n: int) -> bytes:
        self._ensure(n)
        self._pos += n
        return self._buf[self._pos - n:self._pos]

    def unpack(self, fmt: struct.Struct) -> Any:
        self._ensure(fmt.size)
        self._pos += fmt.size
        return fmt.unpack_from(self._buf, self._pos - fmt.size)[0]

    def skip(self, n: int) -> None:
        self._pos += n  # the next read refills the window if this left it
        if self.tell() > self.size:
            raise self.truncated()

    def skip_strings(self, n: int) -> None:
        """Move past ``n`` strings, reading only their lengths (the hot loop)."""
        length_at = _U64.unpack_from
        for _ in range(n):
            if self._pos + 8 > len(self._buf):
                self._ensure(8)
            self._pos += 8 + length_at(self._buf, self._pos)[0]
        self.skip(0)

    def string(self) -> str:
        n = self.unpack(_U64)
        if MAX_STRING < n <= self.size - self.tell():
            raise self.error(f"a text entry claims {format_size(n)}")
        return self.read(n).decode("utf-8", errors="replace")

    def count(self, what: str) -> int:
        n = self.unpack(_U64)
        if n > MAX_COUNT:
            raise self.error(f"it claims {n:,} {what}")
        return n


def _read_value(r: _Reader, value_type: int, key: str, arrays: dict[str, int],
                depth: int = 0) -> object:
    """One metadata value; an array too long to keep is skipped and returns None."""
    if value_type in _SCALARS:
        return r.unpack(_SCALARS[value_type])
    if value_type == _STRING:
        return r.string()
    if value_type != _ARRAY:
        raise r.unsupported(value_type, key)
    if depth >= MAX_NESTING:
        raise r.error(f"arrays nested too deep (key {key!r})")
    item_type, n = r.unpack(_U32), r.unpack(_U64)
    if n <= MAX_SMALL_ARRAY:
        return tuple(_read_value(r, item_type, key, arrays, depth + 1) for _ in range(n))
    _skip_array(r, item_type, n, key, depth)
    arrays[key] = n
    return None


def _skip_array(r: _Reader, item_type: int, n: int, key: str, depth: int) -> None:
    """Move past ``n`` items without keeping them (strings only read their lengths)."""
    if item_type in _SCALARS:
        r.skip(n * _SCALARS[item_type].size)
        return
    smallest = {_STRING: 8, _ARRAY: 12}.get(item_type)
    if smallest is None:
        raise r.unsupported(item_type, key)
    if n * smallest > r.size - r.tell():
        raise r.truncated()
    if item_type == _STRING:
        r.skip_strings(n)
        return
    for _ in range(n):
        _read_value(r, _ARRAY, key, {}, depth + 1)


def _read_metadata(r: _Reader, kv_count: int) -> tuple[dict[str, object], dict[str, int]]:
    metadata: dict[str, object] = {}
    arrays: dict[str, int] = {}
    for _ in range(kv_count):
        key = r.string()
        value = _read_value(r, r.unpack(_U32), key, arrays)
        if value is not None:
            metadata[key] = value
    return metadata, arrays


def _read_tensors(r: _Reader, tensor_count: int) -> tuple[int | None, int, dict[str, int]]:
    """Walk the tensor table: (bytes of data needed or None, parameters, types)."""
    types: Counter[str] = Counter()
    needed: int | None = 0
    parameters = 0
    for _ in range(tensor_count):
        r.string()  # tensor name
        n_dims = r.unpack(_U32)
        if n_dims > MAX_DIMS:
            raise r.error(f"a tensor claims {n_dims:,} dimensions")
        elements = 1
        for _ in range(n_dims):
            elements *= r.unpack(_U64)
        if elements >= 2**63:
            raise r.error(f"a tensor claims {elements:,} elements")
        type_id, offset = r.unpack(_U32), r.unpack(_U64)
        parameters += elements
        spec = GGML_TYPES.get(type_id)
        types[spec[0] if spec else f"type{type_id}"] += 1
        if spec is None or needed is None:
            needed = None
            continue
        _, block, block_bytes = spec
        needed = max(needed, offset + -(-elements // block) * block_bytes)
    return needed, parameters, dict(types)


def _check_hyperparameters(r: _Reader, metadata: dict[str, object]) -> None:
    """Refuse layer counts and context lengths no model has (see the module docstring)."""
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str):
        return
    layers = metadata.get(f"{arch}.block_count")
    if isinstance(layers, int) and not isinstance(layers, bool) \
            and not 1 <= layers <= MAX_LAYERS:
        raise r.error(f"{arch}.block_count is {layers:,}; a model has 1 to {MAX_LAYERS} layers")
    context = metadata.get(f"{arch}.context_length")
    if isinstance(context, int) and not isinstance(context, bool) \
            and not 0 <= context <= MAX_CONTEXT_LENGTH:
        raise r.error(f"{arch}.context_length is {context:,} tokens; no model is trained "
                      f"for more than {MAX_CONTEXT_LENGTH:,}")


def _alignment(r: _Reader, metadata: dict[str, object]) -> int:
    value = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(value, int) or value <= 0 or value & (value - 1):
        raise r.error(f"general.alignment is {value!r}, not a power of two")
    return value


def _file_size(path: Path, shown: str) -> int:
    """Size of the file at ``path``; raise if it is missing, a folder or empty."""
    if path.is_dir():
        raise ModelNotFoundError(f"{path.name} is a folder, not a model file", path=shown)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelNotFoundError(f"model file not found: {path.name}", path=shown) from None
    if size == 0:
        raise NotGGUFError(f"model file is empty (0 bytes): {path.name}", path=shown)
    return size


def inspect_gguf(path: str | os.PathLike, *, check_size: bool = True) -> GGUFInfo:
    """Parse the header of the GGUF at ``path``; raise a ModelFileError if unusable."""
    shown, file = os.fspath(path), Path(path)
    try:
        size = _file_size(file, shown)
        with open(file, "rb", buffering=0) as stream:
            return _parse(_Reader(stream, shown, size), file, check_size)
    except OSError as exc:
        raise ModelFileError(f"cannot read {file.name}: {exc.strerror or exc}", path=shown) from exc


def _parse(r: _Reader, file: Path, check_size: bool) -> GGUFInfo:
    magic = r.read(min(4, r.size))
    if magic != MAGIC:
        start = "it is empty" if not magic else "it starts with other bytes"  # never b'...'
        raise NotGGUFError(f"{r.name} is not a GGUF model file ({start})", path=r.path)
    version = r.unpack(_U32)
    if version not in (2, 3):
        raise UnsupportedGGUFError(
            f"{r.name} is GGUF version {version}; Scalpel reads versions 2 and 3 "
            "(download or convert the model again with a current llama.cpp)", path=r.path)
    tensor_count, kv_count = r.count("tensors"), r.count("metadata entries")
    metadata, arrays = _read_metadata(r, kv_count)
    _check_hyperparameters(r, metadata)
    needed, parameters, types = _read_tensors(r, tensor_count)
    alignment = _alignment(r, metadata)
    data_offset = -(-r.tell() // alignment) * alignment
    data_end = None if needed is None else data_offset + needed
    if check_size and data_end is not None and data_end > r.size:
        raise TruncatedModelError(
            f"model file is truncated: {format_size(r.size)} of {format_size(data_end)} "
            f"({r.name}); download it again", path=r.path,
            actual_size=r.size, expected_size=data_end)
    return GGUFInfo(path=str(file.resolve()), file_size=r.size, version=version,
                    tensor_count=tensor_count, metadata=metadata, array_lengths=arrays,
                    data_offset=data_offset, data_end=data_end, parameter_count=parameters,
                    tensor_types=types)
