"""inspect_gguf: the real SmolLM2 file, files written by the gguf package, and bad files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.errors import (ModelFileError, ModelNotFoundError, NotGGUFError,
                                     TruncatedModelError, UnsupportedGGUFError, format_size)
from desktop_app.core.gguf_inspect import FILE_TYPES, GGML_TYPES, GGUFInfo, inspect_gguf

MB = 1000 * 1000


def header(version: int = 3, tensors: int = 0, kvs: int = 0) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, tensors, kvs)


def gguf_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def expect_error(path: Path, error: type[ModelFileError], **kwargs) -> ModelFileError:
    """inspect_gguf(path) must raise ``error`` with a one-line message naming the path."""
    with pytest.raises(error) as caught:
        inspect_gguf(path, **kwargs)
    assert isinstance(caught.value, ModelFileError)
    assert "\n" not in str(caught.value) and str(caught.value)
    assert caught.value.path == str(path)
    return caught.value


def write_tiny_gguf(path: Path, *, file_type: int | None = None) -> None:
    gguf = pytest.importorskip("gguf")
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("Tiny test")
    writer.add_context_length(256)
    writer.add_block_count(1)
    writer.add_chat_template("<|im_start|>{{ messages }}")
    writer.add_array("tiny.small_list", [1, 2, 3])
    writer.add_array("tiny.words", ["a", "bb", "ccc"])
    writer.add_array("tiny.big_list", list(range(1000)))
    writer.add_array("tiny.big_words", [f"w{i}" for i in range(500)])
    writer.add_float32("tiny.scale", 0.5)
    writer.add_bool("tiny.flag", True)
    if file_type is not None:
        writer.add_file_type(file_type)
    writer.add_tensor("a", np.ones((4, 8), dtype=np.float32))
    writer.add_tensor("b", np.ones((16,), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# -- the real model -------------------------------------------------------------------

def test_the_real_model(smollm2_path):
    info = inspect_gguf(smollm2_path)
    assert isinstance(info, GGUFInfo) and info.version == 3
    assert info.architecture == "llama" and info.context_length == 8192
    assert info.block_count == 30 and info.tensor_count == 272
    assert "im_start" in info.chat_template
    assert info.file_type == "Q4_1" and info.quantization_label() == "Q4_1"
    assert 134_000_000 < info.parameter_count < 136_000_000
    assert info.file_size == smollm2_path.stat().st_size
    assert info.data_end == info.file_size
    assert 0 < info.data_offset < info.file_size and info.data_offset % 32 == 0
    assert info.tensor_types["Q4_1"] > info.tensor_types["F32"] > 0
    assert info.array_lengths["tokenizer.ggml.tokens"] == 49152
    assert "tokenizer.ggml.tokens" not in info.metadata  # skipped, not loaded
    assert Path(info.path) == smollm2_path.resolve()


def test_truncated_tensor_data_names_both_sizes(tmp_path, smollm2_path):
    cut = tmp_path / "cut.gguf"
    with open(smollm2_path, "rb") as src:
        cut.write_bytes(src.read(50 * MB))
    full = smollm2_path.stat().st_size
    error = expect_error(cut, TruncatedModelError)
    assert f"truncated: 50 MB of {format_size(full)} (cut.gguf)" in str(error)
    assert error.actual_size == 50 * MB and error.expected_size == full
    assert inspect_gguf(cut, check_size=False).data_end == full  # the check can be skipped


def test_truncated_inside_the_header(tmp_path, smollm2_path):
    for size in (10, 100_000):  # in the counts; in the middle of the vocabulary
        cut = tmp_path / f"cut{size}.gguf"
        with open(smollm2_path, "rb") as src:
            cut.write_bytes(src.read(size))
        error = expect_error(cut, TruncatedModelError)
        assert "ends inside its header" in str(error) and error.actual_size == size


# -- files written by the gguf package ------------------------------------------------

def test_a_file_written_by_the_gguf_package(tmp_path):
    path = tmp_path / "tiny.gguf"
    write_tiny_gguf(path)
    info = inspect_gguf(path)
    assert (info.architecture, info.name, info.context_length, info.block_count) == \
        ("llama", "Tiny test", 256, 1)
    assert info.chat_template == "<|im_start|>{{ messages }}"
    assert info.metadata["tiny.small_list"] == (1, 2, 3)
    assert info.metadata["tiny.words"] == ("a", "bb", "ccc")
    assert info.metadata["tiny.scale"] == 0.5 and info.metadata["tiny.flag"] is True
    assert info.array_lengths == {"tiny.big_list": 1000, "tiny.big_words": 500}
    assert "tiny.big_list" not in info.metadata
    assert info.tensor_count == 2 and info.tensor_types == {"F32": 1, "F16": 1}
    assert info.parameter_count == 4 * 8 + 16
    assert info.data_end is not None and info.data_offset < info.data_end <= info.file_size
    assert info.data_offset % 32 == 0
    assert info.file_type is None and info.quantization_label() == "F16"


def test_file_type_names(tmp_path):
    path = tmp_path / "typed.gguf"
    write_tiny_gguf(path, file_type=15)
    info = inspect_gguf(path)
    assert info.file_type == "Q4_K_M" and info.quantization_label() == "Q4_K_M"
    assert FILE_TYPES[3] == "Q4_1" and FILE_TYPES[38] == "MXFP4_MOE"


def test_the_type_table_matches_the_gguf_package():
    gguf = pytest.importorskip("gguf")
    checked = 0
    for type_id, (name, block, size) in GGML_TYPES.items():
        try:
            qtype = gguf.GGMLQuantizationType(type_id)
        except ValueError:
            continue  # newer than this gguf package
        assert qtype.name == name
        if qtype not in gguf.GGML_QUANT_SIZES:
            continue
        checked += 1
        if name == "Q8_1":
            # gguf-py says 32 + 4 + 4 = 40; ggml-common.h has two halves + 32 = 36. Q8_1 is
            # an activation format that never appears in model files.
            assert (block, size) == (32, 36)
            continue
        assert gguf.GGML_QUANT_SIZES[qtype] == (block, size), name
    assert checked >= 30


# -- bad files ------------------------------------------------------------------------

def test_missing_path_and_folder(tmp_path):
    assert "not found" in str(expect_error(tmp_path / "nope.gguf", ModelNotFoundError))
    assert "folder" in str(expect_error(tmp_path, ModelNotFoundError))


KEY = gguf_string("k")


@pytest.mark.parametrize("name, content, error, words", [
    ("empty.gguf", b"", NotGGUFError, "model file is empty (0 bytes): empty.gguf"),
    ("text.gguf", b"hello world", NotGGUFError,
     "text.gguf is not a GGUF model file (it starts with other bytes)"),
    ("two.gguf", b"GG", NotGGUFError, "not a GGUF model file"),
    ("v99.gguf", header(version=99), UnsupportedGGUFError, "version 99"),
    ("v1.gguf", header(version=1), UnsupportedGGUFError, "convert"),
    ("short.gguf", b"GGUF\x03\x00", TruncatedModelError, "ends inside its header (6 bytes)"),
    ("many-tensors.gguf", header(tensors=2**60), ModelFileError, "corrupt header"),
    ("many-kvs.gguf", header(kvs=10_000_001), ModelFileError, "corrupt header"),
    ("long-key.gguf", header(kvs=1) + struct.pack("<Q", 2**62), TruncatedModelError,
     "truncated"),
    ("huge-array.gguf", header(kvs=1) + KEY + struct.pack("<IIQ", 9, 4, 2**50),
     TruncatedModelError, "truncated"),
    ("huge-string-array.gguf", header(kvs=1) + KEY + struct.pack("<IIQ", 9, 8, 2**60),
     TruncatedModelError, "truncated"),
    ("lying-string-array.gguf", header(kvs=1) + KEY + struct.pack("<IIQ", 9, 8, 100)
     + struct.pack("<Q", 2**40) * 100, TruncatedModelError, "truncated"),
    ("bad-type.gguf", header(kvs=1) + KEY + struct.pack("<I", 77), UnsupportedGGUFError,
     "metadata type 77 (key 'k')"),
    ("bad-item-type.gguf", header(kvs=1) + KEY + struct.pack("<IIQ", 9, 77, 1000) + b"x" * 64,
     UnsupportedGGUFError, "metadata type 77"),
    ("nested.gguf", header(kvs=1) + KEY + struct.pack("<I", 9) + struct.pack("<IQ", 9, 1) * 10,
     ModelFileError, "nested"),
    ("bad-alignment.gguf", header(kvs=1) + gguf_string("general.alignment")
     + struct.pack("<II", 4, 3), ModelFileError, "alignment"),
    ("many-dims.gguf", header(tensors=1) + gguf_string("t") + struct.pack("<I", 1000),
     ModelFileError, "dimensions"),
    ("huge-tensor.gguf", header(tensors=1) + gguf_string("t")
     + struct.pack("<IQQIQ", 2, 2**30, 2**30, 0, 0), TruncatedModelError, "truncated"),
    ("absurd-tensor.gguf", header(tensors=1) + gguf_string("t")
     + struct.pack("<IQQIQ", 2, 2**40, 2**40, 0, 0), ModelFileError, "elements"),
])
def test_bad_files_get_a_one_line_reason(tmp_path, name, content, error, words):
    path = tmp_path / name
    path.write_bytes(content)
    message = str(expect_error(path, error))
    assert words in message


def test_unknown_tensor_type_leaves_data_end_open(tmp_path):
    path = tmp_path / "future.gguf"
    tensor = gguf_string("t") + struct.pack("<IQIQ", 1, 64, 200, 0)
    path.write_bytes(header(tensors=1) + tensor)
    info = inspect_gguf(path)
    assert info.data_end is None and info.tensor_types == {"type200": 1}
    assert info.parameter_count == 64 and info.quantization_label() == "type200"
