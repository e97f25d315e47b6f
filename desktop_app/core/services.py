"""The Qt-free services one Scalpel process uses, built from one Paths value.

The CLI uses these directly; the GUI's composition root (``desktop_app.app``)
builds them the same way and hands them to the windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from functools import cached_property
from typing import Callable

from . import hardware
from .catalog import Catalog, load_catalog
from .chats import ChatStore
from .downloads.hub import HubClient
from .downloads.library import ModelLibrary
from .downloads.manager import DownloadManager, DownloadStatus
from .engine import LlamaEngine, LoadOptions
from .models import ModelRef, ModelRegistry
from .paths import Paths
from .preset_store import PresetStore
from .presets import Preset
from .resources import resource_path
from .settings import Settings, SettingsStore


@dataclass
class Services:
    paths: Paths
    settings_store: SettingsStore
    settings: Settings
    cpu: hardware.CpuInfo
    registry: ModelRegistry = field(init=False)

    def __post_init__(self) -> None:
        self.registry = ModelRegistry(self.paths.models_dir,
                                      opened_paths=self.settings.recent_models,
                                      library=self.library, catalog=self.catalog)

    @cached_property
    def catalog(self) -> Catalog:
        return load_catalog()

    @cached_property
    def library(self) -> ModelLibrary:
        return ModelLibrary(self.paths.models_dir)

    @cached_property
    def presets(self) -> PresetStore:
        system = self.paths.system_config_dir
        return PresetStore(builtin_dir=resource_path("presets"),
                           extra_dirs=[system / "presets"] if system else [],
                           user_dir=self.paths.config_dir / "presets")

    def current_preset(self) -> Preset | None:
        """The preset used last, else the default one."""
        last = self.settings.last_preset
        return (self.presets.get(last) if last else None) or self.presets.default()

    @cached_property
    def chat_store(self) -> ChatStore:
        return ChatStore(self.paths.data_dir / "chats.sqlite3")

    @property
    def downloads_dir(self):
        return self.paths.data_dir / "downloads"

    def hub_client(self) -> HubClient:
        return HubClient(endpoint=self.settings.hub_endpoint, token=self.settings.hub_token)

    def new_download_manager(self, on_change: Callable[[DownloadStatus], None] | None = None
                             ) -> DownloadManager:
        return DownloadManager(models_dir=self.paths.models_dir, work_dir=self.downloads_dir,
                               hub=self.hub_client(), on_change=on_change)

    def new_engine(self) -> LlamaEngine:
        return LlamaEngine(cpu=self.cpu, keep_loaded=self.settings.keep_models_loaded)

    def load_options(self, ref: ModelRef | None = None,
                     preset: Preset | None = None) -> LoadOptions:
        """Settings, the preset's context size, and the catalog's chat format for ``ref``."""
        entry = self.catalog.get(ref.id) if ref is not None else None
        n_ctx = preset.context_size if preset and preset.context_size else self.settings.n_ctx
        return LoadOptions(n_ctx=n_ctx, n_threads=self.settings.n_threads,
                           n_gpu_layers=self.settings.n_gpu_layers,
                           chat_format=entry.chat_format if entry else None)

    def default_model(self) -> ModelRef | None:
        """The last model used if it still exists, else the first one known."""
        models = self.registry.list()
        last = self.settings.last_model
        for ref in models:
            if last and (ref.id == last or str(ref.path) == last):
                return ref
        return models[0] if models else None

    def remember_model(self, ref: ModelRef) -> None:
        self.settings.last_model = str(ref.path)
        if ref.source == "opened":
            self.settings.remember_model(str(ref.path))
            self.registry.opened_paths = list(self.settings.recent_models)
        self.settings_store.save(self.settings)


def build_services(paths: Paths) -> Services:
    paths.ensure()
    store = SettingsStore(paths.settings_file)
    return Services(paths=paths, settings_store=store, settings=store.load(),
                    cpu=hardware.cpu_info())
