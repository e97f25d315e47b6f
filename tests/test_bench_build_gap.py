"""bench_build_gap: its machine-code comparison sees through addresses (two builds of the
same sources with the same flags compare equal, different code does not), and its bare
decode loop opens llama-bench's context or the engine's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks import llama_bench
from benchmarks.bench_build_gap import bare_worker, normalized_code

needs_objdump = pytest.mark.skipif(shutil.which("objdump") is None, reason="no objdump")


def venv_lib() -> Path:
    import llama_cpp
    return Path(llama_cpp.__file__).resolve().parent / "lib"


@needs_objdump
def test_same_code_at_other_addresses_compares_equal_and_other_code_does_not():
    binary = llama_bench.binary_path()
    if binary is None or not (venv_lib() / "libggml.so").exists():
        pytest.skip("needs llama-bench built (benchmarks/llama_bench.py --build) and a "
                    "non-DL llama-cpp-python")
    ours, theirs = venv_lib() / "libggml.so", binary.parent / "libggml.so"
    assert ours.read_bytes() != theirs.read_bytes()  # other addresses, other paths
    assert normalized_code(ours) == normalized_code(theirs)
    assert normalized_code(ours) != normalized_code(binary.parent / "libggml-base.so")


def test_bare_loop_decodes_on_llama_bench_context_or_the_engines(smollm2_path):
    bench = bare_worker(str(smollm2_path), 1, 4, 4, 1, False)
    app = bare_worker(str(smollm2_path), 1, 4, 4, 1, False, app_context=True)
    assert bench["tps"] > 0 and len(bench["reps"]) == 1
    assert bench["n_ctx"] < app["n_ctx"] == 512  # llama-bench's: depth + gen, padded
