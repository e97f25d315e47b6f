"""Models: where they live, how many stay loaded, context size, GPU offload, CPU threads.

"Automatic" is explained with what it chose on this machine and why: the thread count
from ``hardware.choose_threads`` and the CPU's cores, the GPU offload from the llama.cpp
build's backends (read from its files: the window never loads llama.cpp).
"""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

from ...core import hardware
from ...core.build_info import llama_build
from ...core.settings import RULES
from .fields import NEXT_LOAD, NOW, AutoNumberField, ChoiceField, NumberField
from .page import SettingsPage, info


def threads_explained(services) -> str:
    """What automatic chose here and why (``hardware.thread_choice`` where it exists)."""
    cpu = services.cpu
    choice = getattr(hardware, "thread_choice", None)
    if choice is not None:
        chosen = choice(cpu)
        count = chosen.threads
        why = chosen.reason
        later = (" A model's first load measures which count is fastest here. When a "
                 "model loads, and while it answers, cores other programs are busy on are "
                 "left to them too; a number set here is kept whatever they do.")
    else:  # the older rule: one physical core kept free
        count = hardware.choose_threads(cpu)
        why = f"{min(cpu.physical, cpu.usable)} physical cores usable, one kept free"
        later = ""
    return (f"Automatic uses {count} thread{'s' * (count != 1)} on this computer: {why}. "
            "llama.cpp slows down badly when its threads share cores with other work, "
            "so it never uses more threads than free physical cores." + later)


def gpu_explained(build=None, *, numbers_only: bool = False) -> str:
    build = build or llama_build()
    found = ", ".join(build.backend_names()) or "none found"
    if not build.gpu_backends:
        if numbers_only:
            return (f"This llama.cpp build has no GPU backend (its backends: {found}), so "
                    "every layer runs on the CPU whatever this says.")
        return (f"Automatic keeps every layer on the CPU here: this llama.cpp build has no "
                f"GPU backend (its backends: {found}).")
    if numbers_only:
        return f"This llama.cpp build can use {found}."
    return (f"This llama.cpp build can use {found}. Automatic puts as many layers on the "
            "GPU as its free memory holds when a model loads.")


def gpu_auto_value() -> tuple[bool, object]:
    """Whether the settings know "automatic" GPU offload, and the value that means it
    (null, or the text "auto")."""
    rule = RULES.get("n_gpu_layers")
    for value in (None, "auto"):
        if rule is not None and rule.accepts(value):
            return True, value
    return False, None


def loaded_offload(window) -> str:
    """Where the loaded model's layers run, as the engine said (empty: nothing loaded)."""
    info = getattr(getattr(window, "chat", None), "model", None)
    status = getattr(info, "offload", "") if info is not None else ""
    return f" The model loaded now: {status}." if status else ""


class ModelsPage(SettingsPage):
    title = "Models"

    def __init__(self, services, **options) -> None:
        super().__init__(services, **options)
        self._folder_section()
        loading = self.section(
            "Loading", "These apply when a model is next loaded (choose it again, or "
            "Model ▸ Unload and load it), except how many stay loaded, which applies now.")
        self.keep = self.add(loading, NumberField(
            "keep_models_loaded", "Models kept loaded", RULES["keep_models_loaded"],
            applies=NOW))
        self.keep.set_note("Switching between kept models is instant; each one holds its "
                           "memory. Idle ones close when free memory runs low.")
        self.n_ctx = self.add(loading, NumberField(
            "n_ctx", "Default context size (tokens)", RULES["n_ctx"], applies=NEXT_LOAD))
        self.n_ctx.set_note("How much of the conversation the model sees. A task with its "
                            "own context size uses that instead; a model's trained length "
                            "caps it.")
        has_auto, auto_value = gpu_auto_value()
        if has_auto:
            self.gpu = self.add(loading, AutoNumberField(
                "n_gpu_layers", "GPU offload (layers)", RULES["n_gpu_layers"],
                auto_value=auto_value, applies=NEXT_LOAD))
            self.gpu.set_note("A number: 0 keeps every layer on the CPU, -1 puts all of "
                              "them on the GPU. " + gpu_explained()
                              + loaded_offload(self.window))
        else:
            self.gpu = self.add(loading, NumberField(
                "n_gpu_layers", "GPU offload (layers)", RULES["n_gpu_layers"],
                applies=NEXT_LOAD))
            self.gpu.set_note("0 keeps every layer on the CPU; -1 puts every layer the GPU "
                              "holds on it. " + gpu_explained(numbers_only=True)
                              + loaded_offload(self.window))
        self.threads = self.add(loading, AutoNumberField(
            "n_threads", "CPU threads", RULES["n_threads"], auto_value=None,
            applies=NEXT_LOAD))
        self.threads.set_note(threads_explained(services))
        self.flash = self.add(loading, ChoiceField(
            "flash_attn", "Flash attention", RULES["flash_attn"],
            [("Automatic", None), ("On", True), ("Off", False)], applies=NEXT_LOAD))
        self.flash.set_note("llama.cpp's fused attention. Automatic turns it on while a "
                            "model runs on the CPU, where it answers faster in short chats, "
                            "as fast in long ones and needs less memory, and off once "
                            "layers go to a GPU.")
        self.finish()

    def _folder_section(self) -> None:
        paths = self.services.paths
        form = self.section("Models folder",
                            "Downloaded and imported models are kept here. It follows "
                            "Scalpel's data folder (SCALPEL_HOME moves both).")
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        path = info(str(paths.models_dir))
        path.setObjectName("models_folder")
        layout.addWidget(path, 1)
        button = QPushButton("Open")
        button.setAccessibleName("Open the models folder")
        button.clicked.connect(
            lambda: self.open_url(QUrl.fromLocalFile(str(paths.models_dir))))
        layout.addWidget(button)
        form.addRow("Folder:", row)
        shared = self.services.policy.model_dirs
        if shared:
            form.addRow("Also from:", info(
                "\n".join(str(p) for p in shared) + "\n(set by your organization; read only)"))
