"""Searching the Hub by name (core/hub_search.py) with huggingface_hub's HfApi, against the
tests' Hub look-alike: GGUF repos only, most downloaded first, files with quantizations."""

from __future__ import annotations

import pytest

from desktop_app.core.downloads.hub import HubClient
from desktop_app.core.errors import NetworkUnavailableError
from desktop_app.core.hub_search import HubSearch, quantization_of


@pytest.mark.parametrize("filename, quant", [
    ("Qwen3-4B-Q4_K_M.gguf", "Q4_K_M"),
    ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
    ("gemma-3-4b-it-f16.gguf", "F16"),
    ("Meta-Llama-3.1-8B-Instruct.IQ4_XS.gguf", "IQ4_XS"),
    ("bge-small-en-v1.5-q8_0.gguf", "Q8_0"),
    ("big-Q4_K_M-00001-of-00003.gguf", "Q4_K_M"),
    ("sub/dir/Qwen3-4B-bf16.gguf", "BF16"),
    ("Qwen2.5-0.5B-Instruct.gguf", None),
])
def test_quantization_is_read_from_the_file_name(filename, quant):
    assert quantization_of(filename) == quant


def test_search_finds_gguf_repos_by_words_most_downloaded_first(make_hub, smollm2_path):
    hub = make_hub(files=[
        ("a/Qwen3-4B-GGUF", "Qwen3-4B-Q4_K_M.gguf", smollm2_path, None),
        ("b/Qwen3-4B-Instruct-GGUF", "Qwen3-4B-Instruct-Q8_0.gguf", smollm2_path, None),
        ("c/Llama-3.2-1B-GGUF", "Llama-3.2-1B-Q4_K_M.gguf", smollm2_path, None)])
    hub.describe_repo("a/Qwen3-4B-GGUF", downloads=10, tags=("gguf", "license:apache-2.0"))
    hub.describe_repo("b/Qwen3-4B-Instruct-GGUF", downloads=5000, likes=7)
    hub.describe_repo("d/Qwen3-4B", downloads=10**6, tags=("safetensors",))
    search = HubSearch(HubClient(endpoint=hub.url))
    found = search.search("  qwen3   4b ")
    assert [r.id for r in found] == ["b/Qwen3-4B-Instruct-GGUF", "a/Qwen3-4B-GGUF"]
    assert (found[0].downloads, found[0].likes, found[1].license) == (5000, 7, "apache-2.0")
    assert search.search("") == [] and search.search("mistral") == []


def test_files_come_with_sizes_quantizations_and_notes(make_hub, smollm2_path):
    size = smollm2_path.stat().st_size
    hub = make_hub(files=[
        ("x/Model-GGUF", "Model-Q8_0.gguf", smollm2_path, None),
        ("x/Model-GGUF", "mmproj-Model-f16.gguf", smollm2_path, None),
        ("x/Model-GGUF", "Model-Q4_K_M-00001-of-00002.gguf", smollm2_path, None)])
    files = HubSearch(HubClient(endpoint=hub.url)).files("x/Model-GGUF")
    assert [(f.filename, f.size, f.quantization) for f in files][0] == \
        ("Model-Q8_0.gguf", size, "Q8_0")
    notes = {f.filename: f.note for f in files}
    assert notes["Model-Q8_0.gguf"] == ""
    assert "projector" in notes["mmproj-Model-f16.gguf"]
    assert notes["Model-Q4_K_M-00001-of-00002.gguf"] == "part 1 of 2 of a split model"


def test_search_offline_says_so(tmp_path):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(NetworkUnavailableError, match="^offline: "):
        HubSearch(HubClient(endpoint=f"http://127.0.0.1:{port}")).search("qwen")
