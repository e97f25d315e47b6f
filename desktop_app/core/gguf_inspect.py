"""Read a GGUF file's header ourselves, so a bad file gets a reason.

llama.cpp only says "Failed to load model". This reader checks the magic, the
version, the metadata and the tensor table, and that the tensor data the header
promises fits in the file. Large arrays (the tokenizer vocabulary) are skipped,
not read into memory; absurd counts are refused instead of allocated.
"""

from __future__ import annotations

import io
import os
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .errors import (ModelFileError, ModelNotFoundError, NotGGUFError, TruncatedModelError,
                     UnsupportedGGUFError, format_size)

MAGIC = b"GGUF"
MAX_COUNT = 10_000_000        # tensors or metadata keys; real models have < 100k
MAX_SMALL_ARRAY = 64          # arrays up to this length are kept in metadata
DEFAULT_ALIGNMENT = 32

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
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    38: "MXFP4_MOE",
}

# metadata value type -> struct format (8 = string, 9 = array are special)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class GGUFInfo:
    path: str
    file_size: int
    version: int
    tensor_count: int
    metadata: dict[str, object]
    array_lengths: dict[str, int]
    data_offset: int
    data_end: int | None
    parameter_count: int
    tensor_types: dict[str, int] = field(default_factory=dict)

    def _arch_value(self, key: str):
        return self.metadata.get(f"{self.architecture}.{key}") if self.architecture else None

    @property
    def architecture(self) -> str | None:
        return self.metadata.get("general.architecture")  # type: ignore[return-value]

    @property
    def name(self) -> str | None:
        return self.metadata.get("general.name")  # type: ignore[return-value]

    @property
    def context_length(self) -> int | None:
        return self._arch_value("context_length")

    @property
    def block_count(self) -> int | None:
        return self._arch_value("block_count")

    @property
    def chat_template(self) -> str | None:
        return self.metadata.get("tokenizer.chat_template")  # type: ignore[return-value]

    @property
    def file_type(self) -> str | None:
        return FILE_TYPES.get(self.metadata.get("general.file_type", -1))  # type: ignore[arg-type]

    def quantization_label(self) -> str:
        if self.file_type:
            return self.file_type
        quantized = Counter({k: v for k, v in self.tensor_types.items() if k != "F32"})
        return quantized.most_common(1)[0][0] if quantized else "unknown"


class _Reader:
    """Little-endian reads that turn a short read into TruncatedModelError."""

    def __init__(self, stream: io.BufferedReader, path: Path, size: int) -> None:
        self._f, self.path, self.size = stream, path, size

    def _truncated(self) -> TruncatedModelError:
        return TruncatedModelError(
            f"model file is truncated: it ends inside its header ({format_size(self.size)}) "
            f"({self.path.name})", path=str(self.path), actual_size=self.size)

    def read(self, n: int) -> bytes:
        if n > self.size - self.tell():
            raise self._truncated()
        return self._f.read(n)

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def skip(self, n: int) -> None:
        if n > self.size - self.tell():
            raise self._truncated()
        self._f.seek(n, os.SEEK_CUR)

    def tell(self) -> int:
        return self._f.tell()

    def string(self) -> str:
        return self.read(self.unpack("<Q")).decode("utf-8", errors="replace")

    def count(self, what: str) -> int:
        n = self.unpack("<Q")
        if n > MAX_COUNT:
            raise ModelFileError(f"{self.path.name} has a corrupt header: it claims {n:,} {what}",
                                 path=str(self.path))
        return n


def _read_value(r: _Reader, value_type: int, key: str, arrays: dict[str, int]):
    if value_type in _SCALARS:
        return r.unpack(_SCALARS[value_type])
    if value_type == _STRING:
        return r.string()
    if value_type == _ARRAY:
        item_type, n = r.unpack("<I"), r.unpack("<Q")
        if item_type in _SCALARS and n > MAX_SMALL_ARRAY:
            r.skip(n * struct.calcsize(_SCALARS[item_type]))  # raises if past the end
            arrays[key] = n
            return None
        if n > r.size:  # every element takes at least one byte
            raise r._truncated()
        if n > MAX_SMALL_ARRAY:
            for _ in range(n):
                _skip_value(r, item_type)
            arrays[key] = n
            return None
        return tuple(_read_value(r, item_type, key, arrays) for _ in range(n))
    raise UnsupportedGGUFError(
        f"{r.path.name} uses metadata type {value_type} (key {key!r}), which this Scalpel "
        "cannot read; the file may be corrupt or newer than this version", path=str(r.path))


def _skip_value(r: _Reader, value_type: int) -> None:
    if value_type == _STRING:
        r.skip(r.unpack("<Q"))
    else:
        _read_value(r, value_type, "", {})


def _open_checked(path: Path) -> int:
    if not path.exists():
        raise ModelNotFoundError(f"model file not found: {path}", path=str(path))
    if path.is_dir():
        raise ModelNotFoundError(f"{path} is a folder, not a model file", path=str(path))
    size = path.stat().st_size
    if size == 0:
        raise NotGGUFError(f"model file is empty (0 bytes): {path.name}", path=str(path))
    return size


def inspect_gguf(path: str | os.PathLike, *, check_size: bool = True) -> GGUFInfo:
    """Parse the header of the GGUF at ``path``; raise a ModelFileError if unusable."""
    path = Path(path).expanduser()
    size = _open_checked(path)
    try:
        with open(path, "rb", buffering=1 << 16) as stream:
            return _parse(_Reader(stream, path, size), check_size)
    except PermissionError as exc:
        raise ModelFileError(f"cannot read {path.name}: permission denied", path=str(path)) from exc


def _parse(r: _Reader, check_size: bool) -> GGUFInfo:
    magic = r._f.read(4)
    if magic != MAGIC:
        raise NotGGUFError(f"{r.path.name} is not a GGUF model file (it starts with {magic!r})",
                           path=str(r.path))
    version = r.unpack("<I")
    if version not in (2, 3):
        raise UnsupportedGGUFError(
            f"{r.path.name} is GGUF version {version}; Scalpel reads versions 2 and 3 "
            "(download a current conversion of this model)", path=str(r.path))
    tensor_count, kv_count = r.count("tensors"), r.count("metadata entries")
    metadata: dict[str, object] = {}
    arrays: dict[str, int] = {}
    for _ in range(kv_count):
        key = r.string()
        value = _read_value(r, r.unpack("<I"), key, arrays)
        if value is not None:
            metadata[key] = value
    types: Counter[str] = Counter()
    data_needed, parameters, unknown_type = 0, 0, False
    for _ in range(tensor_count):
        r.string()  # tensor name
        n_dims = r.unpack("<I")
        if n_dims > 8:
            raise ModelFileError(f"{r.path.name} has a corrupt tensor table", path=str(r.path))
        elements = 1
        for _ in range(n_dims):
            elements *= r.unpack("<Q")
        type_id, offset = r.unpack("<I"), r.unpack("<Q")
        parameters += elements
        spec = GGML_TYPES.get(type_id)
        if spec is None:
            unknown_type = True
            types[f"type{type_id}"] += 1
            continue
        name, block, nbytes = spec
        types[name] += 1
        data_needed = max(data_needed, offset + -(-elements // block) * nbytes)
    alignment = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT) or DEFAULT_ALIGNMENT)
    data_offset = -(-r.tell() // alignment) * alignment
    data_end = None if unknown_type else data_offset + data_needed
    if check_size and data_end is not None and data_end > r.size:
        raise TruncatedModelError(
            f"model file is truncated: {format_size(r.size)} of {format_size(data_end)} "
            f"({r.path.name}); download it again", path=str(r.path),
            actual_size=r.size, expected_size=data_end)
    return GGUFInfo(path=str(r.path.resolve()), file_size=r.size, version=version,
                    tensor_count=tensor_count, metadata=metadata, array_lengths=arrays,
                    data_offset=data_offset, data_end=data_end, parameter_count=parameters,
                    tensor_types=dict(types))
