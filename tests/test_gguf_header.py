"""GGUF header inspection: the real model, a file written by the gguf package, bad files."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from desktop_app.core.errors import (ModelFileError, ModelNotFoundError, NotGGUFError,
                                     TruncatedModelError, UnsupportedGGUFError)
from desktop_app.core.gguf_inspect import GGML_TYPES, inspect_gguf

MB = 1024 * 1024


def header(version=3, tensors=0, kvs=0) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, tensors, kvs)


def test_the_real_model(smollm2_path):
    info = inspect_gguf(smollm2_path)
    assert info.architecture == "llama" and info.context_length == 8192
    assert info.file_type == "Q4_1" and info.quantization_label() == "Q4_1"
    assert "im_start" in info.chat_template
    assert 134_000_000 < info.parameter_count < 136_000_000
    assert info.data_end == info.file_size == smollm2_path.stat().st_size
    assert info.array_lengths["tokenizer.ggml.tokens"] == 49152
    assert "tokenizer.ggml.tokens" not in info.metadata  # big arrays are skipped, not loaded
    assert info.block_count == 30 and info.tensor_count == 272


def test_a_file_written_by_the_gguf_package(tmp_path):
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "tiny.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(256)
    writer.add_block_count(1)
    writer.add_name("Tiny test")
    writer.add_array("tiny.small_list", [1, 2, 3])
    writer.add_tensor("a", np.ones((4, 8), dtype=np.float32))
    writer.add_tensor("b", np.ones((16,), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    info = inspect_gguf(path)
    assert (info.architecture, info.name, info.context_length) == ("llama", "Tiny test", 256)
    assert info.metadata["tiny.small_list"] == (1, 2, 3)
    assert info.tensor_types == {"F32": 1, "F16": 1}
    assert info.parameter_count == 4 * 8 + 16
    assert info.data_end is not None and info.data_end <= info.file_size
    assert info.quantization_label() == "F16"


def test_the_type_table_matches_ggml():
    gguf = pytest.importorskip("gguf")
    for type_id, (name, block, size) in GGML_TYPES.items():
        try:
            qtype = gguf.GGMLQuantizationType(type_id)
        except ValueError:
            continue  # newer than this gguf package
        assert qtype.name == name
        if name == "Q8_1":
            # gguf 0.19 says 40 bytes; ggml-common.h asserts 2*sizeof(half) + 32 = 36.
            # Q8_1 is an activation format and never stored in model files.
            assert size == 36
            continue
        assert gguf.GGML_QUANT_SIZES[qtype] == (block, size), name


def test_truncated_tensor_data_names_both_sizes(tmp_path, smollm2_path):
    cut = tmp_path / "cut.gguf"
    with open(smollm2_path, "rb") as src:
        cut.write_bytes(src.read(50 * MB))
    with pytest.raises(TruncatedModelError) as caught:
        inspect_gguf(cut)
    assert "truncated: 50 MB of 94 MB" in str(caught.value)
    assert caught.value.actual_size == 50 * MB
    assert caught.value.expected_size == smollm2_path.stat().st_size


@pytest.mark.parametrize("name, content, error, words", [
    ("empty.gguf", b"", NotGGUFError, "empty (0 bytes)"),
    ("text.gguf", b"hello world", NotGGUFError, "not a GGUF model file"),
    ("v99.gguf", header(version=99), UnsupportedGGUFError, "version 99"),
    ("v1.gguf", header(version=1), UnsupportedGGUFError, "version 1"),
    ("short.gguf", b"GGUF\x03\x00", TruncatedModelError, "ends inside its header"),
    ("huge-count.gguf", header(tensors=2**60), ModelFileError, "corrupt header"),
    ("huge-kv.gguf", header(kvs=2**40), ModelFileError, "corrupt header"),
    ("long-key.gguf", header(kvs=1) + struct.pack("<Q", 2**62), TruncatedModelError, "truncated"),
    ("huge-array.gguf", header(kvs=1) + struct.pack("<Q", 1) + b"k" + struct.pack("<IIQ", 9, 8, 2**50),
     TruncatedModelError, "truncated"),
    ("bad-type.gguf", header(kvs=1) + struct.pack("<Q", 1) + b"k" + struct.pack("<I", 77),
     UnsupportedGGUFError, "metadata type 77"),
])
def test_bad_files_get_a_one_line_reason(tmp_path, name, content, error, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error) as caught:
        inspect_gguf(path)
    message = str(caught.value)
    assert words in message and "\n" not in message
    assert isinstance(caught.value, ModelFileError) and caught.value.path == str(path)


def test_missing_paths_and_folders(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not found"):
        inspect_gguf(tmp_path / "nope.gguf")
    with pytest.raises(ModelNotFoundError, match="folder"):
        inspect_gguf(tmp_path)
