"""GPU offload chosen automatically (core/offload.py), against simulated device lists, and
the engine's load path using that choice with a real model and a simulated GPU."""

from __future__ import annotations

import pytest

from desktop_app.core.engine.llama_engine import LlamaEngine
from desktop_app.core.engine.types import LoadOptions
from desktop_app.core.gguf_inspect import inspect_gguf
from desktop_app.core.hardware import MemoryInfo
from desktop_app.core.offload import (GB, MB, Device, ModelShape, OffloadPlan, best_gpu,
                                      flash_attention, model_shape, plan_offload, short_name)

CPU = Device("CPU", "AMD EPYC", "CPU", "cpu", 16 * GB, 16 * GB)
LAVAPIPE = Device("Vulkan0", "llvmpipe (LLVM 15.0.6, 256 bits)", "Vulkan", "gpu", 23 * GB, 23 * GB)

# A 7B-like model: 28 layers of 140 MB, 300 MB outside the layers, 16 MB of KV per layer.
SHAPE = ModelShape(block_count=28, layer_bytes=140 * MB, output_bytes=300 * MB,
                   kv_bytes_per_layer=16 * MB, compute_bytes=200 * MB)


def gpu(free: int, total: int = 8 * GB, name: str = "NVIDIA GeForce RTX 4060",
        kind: str = "gpu", backend: str = "Vulkan") -> Device:
    return Device("Vulkan0", name, backend, kind, free, total)


def test_everything_on_a_gpu_with_room():
    plan = plan_offload(SHAPE, [CPU, gpu(8 * GB)], requested=None, backends=("CPU", "Vulkan"))
    assert plan.layers == -1 and plan.offloaded == 28  # -1: the output layer too
    assert plan.status == "GPU (Vulkan, NVIDIA GeForce RTX 4060): 28/28 layers"


def test_as_many_layers_as_fit_after_the_kv_cache_and_a_margin():
    free = int(1.1 * GB)  # 1.1 GB - 256 MB margin (10% of 1.5 GB < 256 MB) - 200 MB compute
    plan = plan_offload(SHAPE, [CPU, gpu(free, total=int(1.5 * GB))], requested=None,
                        backends=("CPU", "Vulkan"))
    expected = (free - 256 * MB - 200 * MB) // (156 * MB)
    assert plan.layers == expected == 4
    assert plan.status == "4 of 28 layers on the GPU: 1.1 GB free"


def test_the_margin_grows_with_the_device_and_is_capped():
    just_enough = 28 * 156 * MB + 300 * MB + 200 * MB
    # 10% of a 24 GB card is over the 1 GB cap: 1 GB is kept free.
    assert plan_offload(SHAPE, [gpu(just_enough + GB, total=24 * GB)],
                        requested=None).layers == -1
    # A byte less: every repeating layer still fits, the output head stays in RAM.
    assert plan_offload(SHAPE, [gpu(just_enough + GB - 1, total=24 * GB)],
                        requested=None).layers == 28
    layers_only = 28 * 156 * MB + 200 * MB + GB
    assert plan_offload(SHAPE, [gpu(layers_only - 1, total=24 * GB)],
                        requested=None).layers == 27


def test_no_layer_fits():
    plan = plan_offload(SHAPE, [CPU, gpu(300 * MB, total=2 * GB)], requested=None,
                        backends=("CPU", "Vulkan"))
    assert plan.layers == 0 and plan.status == "CPU: not one layer fits in the GPU's 300 MB free"


def test_cpu_only_builds_and_missing_drivers_say_why():
    assert plan_offload(SHAPE, [CPU], requested=None, backends=("CPU",)).status == \
        "CPU: this build has no GPU backend"
    plan = plan_offload(SHAPE, [CPU], requested=None, backends=("CPU", "Vulkan"))
    assert plan.layers == 0 and plan.status.startswith("CPU: no GPU found by the Vulkan backend")


def test_an_explicit_number_wins():
    tiny = gpu(100 * MB, total=2 * GB)
    assert plan_offload(SHAPE, [tiny], requested=20).layers == 20   # not what "auto" would pick
    assert plan_offload(SHAPE, [gpu(8 * GB)], requested=0).status == \
        "CPU: GPU offload is off in the settings"
    explicit = plan_offload(SHAPE, [gpu(8 * GB)], requested=-1)
    assert explicit.explicit and explicit.offloaded == 28


def test_the_gpu_with_most_free_memory_is_chosen():
    igpu = Device("Vulkan1", "Intel(R) Iris Xe Graphics", "Vulkan", "igpu", 6 * GB, 12 * GB)
    dgpu = gpu(4 * GB)
    assert best_gpu([CPU, dgpu, igpu]) is igpu
    assert best_gpu([CPU]) is None
    assert short_name("llvmpipe (LLVM 15.0.6, 256 bits)") == "llvmpipe"


def test_plans_and_devices_are_plain_data():
    plan = plan_offload(SHAPE, [LAVAPIPE], requested=None)
    data = plan.to_dict()
    assert data["status"] == "GPU (Vulkan, llvmpipe): 28/28 layers"
    assert Device.from_dict(data["device"]) == LAVAPIPE
    assert OffloadPlan(layers=0, block_count=30).status == "CPU"


def test_shape_from_smollm2s_metadata(smollm2_path):
    gguf = inspect_gguf(smollm2_path)
    shape = model_shape(block_count=gguf.block_count, parameter_count=gguf.parameter_count,
                        file_size=gguf.file_size, metadata=gguf.metadata,
                        architecture=gguf.architecture, kv_bytes_per_token=30 * 2 * 2 * 192,
                        n_ctx=4096, step_tokens=256)
    assert shape.block_count == 30
    # 30 layers hold ~79% of SmolLM2's 135M parameters; the 49152 x 576 embeddings the rest.
    assert 0.75 < shape.layer_bytes * 30 / gguf.file_size < 0.83
    assert shape.output_bytes + shape.layer_bytes * 30 == gguf.file_size
    assert shape.kv_bytes_per_layer == 2 * 2 * 192 * 4096
    assert shape.compute_bytes == 4 * 256 * 9 * 4096 + 64 * MB


def test_unknown_shapes_count_the_output_as_one_more_layer():
    shape = model_shape(block_count=9, parameter_count=0, file_size=1000, metadata={},
                        architecture=None, kv_bytes_per_token=None, n_ctx=512, step_tokens=0)
    assert shape.layer_bytes == 100 and shape.output_bytes == 100


def test_the_engine_loads_with_auto_offload_on_a_cpu_only_list(smollm2_path):
    """The load path asks for devices, plans, and records the sentence in ModelInfo."""
    asked = []

    def devices():
        asked.append(True)
        return ("CPU",), [CPU]

    engine = LlamaEngine(memory=lambda: MemoryInfo(None, 8 * GB), devices=devices,
                         others_busy=lambda: 0.0)
    try:
        info = engine.load(smollm2_path, LoadOptions(n_ctx=512))
    finally:
        engine.unload()
    assert asked and info.n_gpu_layers == 0
    assert info.offload == "CPU: this build has no GPU backend"
    assert info.threads_reason and info.n_threads >= 1


def test_flash_attention_is_on_for_the_cpu_and_off_once_layers_go_to_a_gpu():
    on_cpu = plan_offload(SHAPE, [CPU], requested=None, backends=("CPU",))
    all_on_gpu = plan_offload(SHAPE, [CPU, gpu(8 * GB)], requested=None)
    none_fit = plan_offload(SHAPE, [CPU, gpu(300 * MB, total=2 * GB)], requested=None)
    turned_off = plan_offload(SHAPE, [CPU, gpu(8 * GB)], requested=0)
    assert flash_attention(None, on_cpu) == (True, "automatic: on while the model runs on "
                                                   "the CPU")
    assert flash_attention(None, none_fit)[0] and flash_attention(None, turned_off)[0]
    assert flash_attention(None, all_on_gpu) == (False, "automatic: off while layers run on "
                                                        "a GPU")
    assert flash_attention(True, all_on_gpu) == (True, "set in settings")
    assert flash_attention(False, on_cpu) == (False, "set in settings")


def test_the_engine_opens_llama_cpp_with_the_flash_attention_it_chose(smollm2_path):
    import llama_cpp

    engine = LlamaEngine(memory=lambda: MemoryInfo(None, 8 * GB),
                         devices=lambda: (("CPU",), [CPU]), others_busy=lambda: 0.0)
    try:
        engine.load(smollm2_path, LoadOptions(n_ctx=512, n_threads=1))
        auto = engine._model.llama.context_params.flash_attn_type
        engine.load(smollm2_path, LoadOptions(n_ctx=512, n_threads=1, flash_attn=False))
        off = engine._model.llama.context_params.flash_attn_type
    finally:
        engine.unload()
    assert auto == llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
    assert off == llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED


def test_the_memory_precheck_counts_the_chosen_devices_memory(smollm2_path):
    """An explicit -1 on a (simulated) GPU with 10 MB free is refused on video memory;
    "auto" on the same device puts nothing there and loads."""
    from desktop_app.core.errors import InsufficientMemoryError

    tiny = Device("Vulkan0", "Tiny GPU", "Vulkan", "gpu", 10 * MB, 512 * MB)
    engine = LlamaEngine(memory=lambda: MemoryInfo(None, 8 * GB),
                         devices=lambda: (("CPU", "Vulkan"), [CPU, tiny]),
                         others_busy=lambda: 0.0)
    try:
        with pytest.raises(InsufficientMemoryError, match="video memory"):
            engine.load(smollm2_path, LoadOptions(n_ctx=512, n_gpu_layers=-1))
        info = engine.load(smollm2_path, LoadOptions(n_ctx=512))
    finally:
        engine.unload()
    assert info.n_gpu_layers == 0
    assert info.offload == "CPU: not one layer fits in the GPU's 10 MB free"


def test_model_details_show_where_the_layers_run_and_why_the_threads():
    from desktop_app.core.engine.types import ModelInfo
    from desktop_app.ui.model_details import detail_rows

    info = ModelInfo(path="/m.gguf", name="SmolLM2", architecture="llama", quantization="Q4_1",
                     parameter_count=135_000_000, file_size=98_000_000, context_size=4096,
                     trained_context=8192, n_threads=2, n_gpu_layers=-1, chat_template="embedded",
                     load_seconds=0.1, offload="GPU (Vulkan, llvmpipe): 30/30 layers",
                     threads_reason="2 physical cores usable")
    rows = dict(detail_rows(info, []))
    assert rows["GPU layers"] == "GPU (Vulkan, llvmpipe): 30/30 layers"
    assert rows["CPU threads"] == "2 (2 physical cores usable)"
    assert ModelInfo.from_dict(info.to_dict()) == info  # crosses the engine pipe whole
