"""The Qt-free services one Scalpel process uses, built from one Paths value.

The CLI uses these directly; the GUI's composition root (``desktop_app.app``)
builds them the same way and hands them to the windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from . import hardware
from .catalog import Catalog, CatalogEntry, load_catalog
from .chats import ChatStore
from .chats.opening import StoreOpening, open_chat_store
from .downloads.hub import HubClient
from .downloads.library import ModelLibrary
from .downloads.manager import DownloadManager, DownloadStatus
from .errors import DownloadsDisabledError, ModelNotFoundError
from .gguf_inspect import inspect_gguf
from .engine import GenerationParams, LoadOptions
from .engine.process import EngineProcess
from .escalation.config import policy_escalation
from .model_listing import ModelListing
from .models import STARTER_SHA256, ModelRef, ModelRegistry
from .paths import Paths
from .policy import HashCache, ModelGate, Policy, load_policy
from .preset_store import PresetStore
from .presets import Preset
from .resources import resource_path
from .settings import MAX_RECENT_MODELS, Settings, SettingsStore
from .settings_service import SettingsService

if TYPE_CHECKING:
    from .engine.contract import Engine
    from .engine.llama_engine import LlamaEngine
    from .documents import IndexStore
    from .documents.session_port import SessionDocuments
    from .escalation.config import EscalationConfig
    from .escalation.session_port import SessionEscalation
    from .escalation.usage_log import UsageLog
    from .session import ChatSession


@dataclass
class Services:
    paths: Paths
    settings_store: SettingsStore
    settings: Settings
    cpu: hardware.CpuInfo
    policy: Policy = field(default_factory=Policy.unmanaged)
    registry: ModelRegistry = field(init=False)
    models: ModelListing = field(init=False)             # the registry's last listing
    settings_service: SettingsService = field(init=False)
    chat_store_opening: StoreOpening | None = field(default=None, init=False)  # chat_store's

    def __post_init__(self) -> None:
        self.registry = ModelRegistry(self.paths.models_dir,
                                      opened_paths=self.settings.recent_models,
                                      library=self.library, catalog=self.catalog,
                                      provisioned_dirs=self.policy.model_dirs)
        self.models = ModelListing(self.registry, self.model_allowed,
                                   is_embedding=is_embedding_gguf)
        self.settings_service = SettingsService(self.settings_store, self.settings,
                                                policy_file=self.policy.file)
        self.settings_service.subscribe(self._on_settings_changed)

    def update_settings(self, **changes) -> frozenset[str]:
        """Validate, save and announce ``changes`` (see SettingsService.update); raises a
        ConfigError with a sentence."""
        return self.settings_service.update(**changes)

    def _on_settings_changed(self, names: frozenset[str]) -> None:
        if "recent_models" in names:
            self.registry.opened_paths = list(self.settings.recent_models)

    @cached_property
    def model_gate(self) -> ModelGate:
        return ModelGate(self.policy, self.catalog,
                         cache=HashCache(self.paths.cache_dir / "model-digests.json"))

    @cached_property
    def catalog(self) -> Catalog:
        return load_catalog()

    @cached_property
    def library(self) -> ModelLibrary:
        return ModelLibrary(self.paths.models_dir, gate=self.model_gate)

    @cached_property
    def presets(self) -> PresetStore:
        system = self.paths.system_config_dir
        extra = [system / "presets"] if system else []
        if self.policy.presets_dir:
            extra.append(self.policy.presets_dir)
        return PresetStore(builtin_dir=resource_path("presets"), extra_dirs=extra,
                           user_dir=self.paths.config_dir / "presets")

    def current_preset(self) -> Preset | None:
        """The preset used last, else the organization's default, else the built-in one."""
        for preset_id in (self.settings.last_preset, self.policy.default_preset):
            if preset_id and (preset := self.presets.get(preset_id)):
                return preset
        return self.presets.default()

    @cached_property
    def chat_store(self) -> ChatStore:
        """The chats. Never raises: a file that cannot be used as it is comes back
        recovered, copied into memory or empty, and ``chat_store_opening`` says how."""
        store, self.chat_store_opening = open_chat_store(self.paths.data_dir / "chats.sqlite3")
        return store

    @property
    def downloads_dir(self):
        return self.paths.data_dir / "downloads"

    @property
    def proxy(self) -> str | None:
        """The proxy in force: the policy's, else the person's (Settings ▸ Network)."""
        return self.policy.proxy or self.settings.proxy

    @property
    def ca_bundle(self) -> str | None:
        return self.policy.ca_bundle or self.settings.ca_bundle

    @property
    def downloads_allowed(self) -> bool:
        """The policy allows downloads and the person has not turned them off."""
        return self.policy.downloads_allowed and self.settings.downloads_enabled

    def hub_client(self) -> HubClient:
        """The Hub or the organization's mirror, through the proxy and CA bundle in force."""
        return HubClient(endpoint=self.policy.hub_endpoint or self.settings.hub_endpoint,
                         token=self.settings.hub_token, proxy=self.proxy,
                         ca_bundle=self.ca_bundle)

    def new_download_manager(self, on_change: Callable[[DownloadStatus], None] | None = None,
                             *, models_dir: Path | None = None) -> DownloadManager:
        """Downloads into the models folder, or ``models_dir`` (a shared store IT fills)."""
        target = models_dir or self.paths.models_dir
        work_dir = self.downloads_dir if models_dir is None else models_dir / ".partial"
        return DownloadManager(models_dir=target, work_dir=work_dir, hub=self.hub_client(),
                               on_change=on_change, admit=self.download_admission,
                               on_installed=self._on_model_installed)

    def _on_model_installed(self, path: Path) -> None:
        """On the download worker, before the job reads "done": the listing gets the file."""
        if self.models.listed:  # nobody listed models yet (the CLI): nothing to keep fresh
            self.models.refresh()

    def download_admission(self, catalog_id: str | None, sha256: str | None) -> None:
        """Raise DownloadsDisabledError unless the policy (and the person's own switch)
        let this file be downloaded."""
        check_download_allowed(self.policy, self.model_gate, catalog_id, sha256)
        if not self.settings.downloads_enabled:
            raise DownloadsDisabledError("downloads are turned off in Settings ▸ Network; "
                                         "turn them on there to download this model")

    def new_engine(self) -> "LlamaEngine":
        """An engine in this process (the CLI's); the GUI uses ``new_engine_process``."""
        from .engine.llama_engine import LlamaEngine

        return LlamaEngine(cpu=self.cpu, keep_loaded=self.settings.keep_models_loaded,
                           gate=self.model_gate)

    def new_engine_process(self) -> EngineProcess:
        """The engine in a child process a crash cannot take the app with (the window's and
        the terminal chat's)."""
        return EngineProcess(keep_loaded=self.settings.keep_models_loaded, gate=self.model_gate)

    def new_session(self, engine: "Engine", *, store: ChatStore | None = None) -> "ChatSession":
        """A conversation on ``engine``, saved in the chat store (or ``store``)."""
        from .session import ChatSession
        from .session.auto import auto_task_from

        return ChatSession(store or self.chat_store, engine, preset_for=self.presets.get,
                           default_params=self.default_generation_params,
                           auto=auto_task_from(self, engine),
                           escalation=self.escalation_port(),
                           documents=self.documents_port(engine))

    @cached_property
    def documents_store(self) -> "IndexStore":
        """The index of the person's documents (shared by the window, chats and CLI)."""
        from .documents import IndexStore

        return IndexStore.open(self.paths)

    def documents_port(self, engine: "Engine | None" = None) -> "SessionDocuments":
        """Documents for one session; query embeddings run on ``engine``."""
        from .documents.allowed import documents_refusal
        from .documents.session_port import SessionDocuments

        return SessionDocuments(lambda: self.documents_store, engine=engine,
                                resolve=self.models.resolve, catalog=self.catalog,
                                refusal=lambda: documents_refusal(self.policy))

    @cached_property
    def usage_log(self) -> "UsageLog":
        """Where every answer came from (local or the organization's model)."""
        from .escalation.usage_log import UsageLog

        return UsageLog(self.paths.usage_log_file)

    def escalation(self) -> "EscalationConfig":
        """The escalation in force: the policy's (locked), else the person's, else off."""
        from .escalation.config import resolve_escalation

        return resolve_escalation(self.policy, self.settings)

    def escalation_port(self) -> "SessionEscalation":
        """Escalation for one session; its remote engine is made on first use only."""
        from .escalation.config import remote_engine_for
        from .escalation.session_port import SessionEscalation

        config = self.escalation()
        return SessionEscalation(config, usage=self.usage_log,
                                 make_engine=lambda: remote_engine_for(
                                     config, self.policy, proxy=self.proxy,
                                     ca_bundle=self.ca_bundle),
                                 preset_for=self.presets.get)

    def default_generation_params(self) -> GenerationParams:
        """Sampling without a preset: the settings' length and temperature."""
        return GenerationParams(max_tokens=self.settings.max_tokens,
                                temperature=self.settings.temperature)

    def load_options(self, ref: ModelRef | None = None,
                     preset: Preset | None = None) -> LoadOptions:
        """Settings, the preset's context size, and the catalog's chat format for ``ref``."""
        entry = self.catalog.get(ref.id) if ref is not None else None
        n_ctx = self.settings.n_ctx
        if preset and preset.context_size and not self.policy.is_locked("n_ctx"):
            n_ctx = preset.context_size
        return LoadOptions(n_ctx=n_ctx, n_threads=self.settings.n_threads,
                           n_gpu_layers=self.settings.n_gpu_layers,
                           flash_attn=self.settings.flash_attn,
                           chat_format=entry.chat_format if entry else None)

    def model_allowed(self, ref: ModelRef) -> bool | None:
        """The policy's verdict on a model without hashing it (None: known only at load)."""
        if not self.model_gate.restricts:
            return True
        known = STARTER_SHA256 if ref.source == "starter" else None
        if ref.source in ("library", "reference"):
            entry = self.library.store.get(ref.path)
            known = entry.sha256 if entry else None
        return self.model_gate.verdict_without_reading(ref.path, known)

    def usable_models(self) -> list[ModelRef]:
        """Known models, less those the policy is known to refuse (from the last listing)."""
        return self.models.usable()

    def can_download(self, entry: CatalogEntry) -> bool:
        return self.downloads_allowed and self.model_gate.allows_digest(entry.sha256)

    def default_model(self) -> ModelRef | None:
        """The last model used if it still exists, else the first one known (and allowed)."""
        models = self.usable_models()
        last = self.settings.last_model
        for ref in models:
            if last and (ref.id == last or str(ref.path) == last):
                return ref
        return models[0] if models else None

    def embedding_model(self) -> ModelRef | None:
        """The model ``/v1/embeddings`` uses: the ``embedding_model`` setting (an id or a
        path; None if it names nothing), else the first usable model whose GGUF says it
        is an embedding model (``is_embedding_gguf``)."""
        wanted = self.settings.embedding_model
        if wanted:
            try:
                return self.models.resolve(wanted)
            except ModelNotFoundError:
                return None
        return next(iter(self.models.embedding_models()), None)

    def no_model_reason(self) -> str:
        """Why ``default_model()`` found nothing, and what to do about it."""
        if self.models.models():
            if self.model_gate.closed_by_problems:
                return self.model_gate.refusal("the installed models")
            return (f"none of the installed models is on your organization's list of allowed "
                    f"models ({self.policy.file}); ask your IT department for one")
        return ("no model is available; pass --model PATH or install the starter model with: "
                "pip install 'scalpel[starter]'")

    def remember_model(self, ref: ModelRef) -> bool:
        """Make ``ref`` the last model used (and a recent file, if opened); True when the
        listing gained it. Raises a ConfigError (SettingsSaveError: remembered for this run)."""
        changes: dict[str, object] = {"last_model": str(ref.path)}
        if ref.source == "opened":
            recent = [p for p in self.settings.recent_models if p != str(ref.path)]
            changes["recent_models"] = [str(ref.path), *recent][:MAX_RECENT_MODELS]
        try:
            self.update_settings(**changes)
        finally:
            added = ref.source == "opened" and self.models.include(ref)
        return added


EMBEDDING_ARCHITECTURES = frozenset({"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2",
                                     "jina-bert-v3", "modern-bert", "t5encoder"})


def is_embedding_gguf(path: Path) -> bool:
    """Does the GGUF's metadata say it is an embedding model (an encoder architecture, or
    a ``<arch>.pooling_type`` key)? False for a file that cannot be read."""
    try:
        info = inspect_gguf(path, check_size=False)
    except Exception:  # noqa: BLE001 - an unreadable file is simply not one
        return False
    arch = info.architecture or ""
    return arch in EMBEDDING_ARCHITECTURES or f"{arch}.pooling_type" in info.metadata


def check_download_allowed(policy: Policy, gate: ModelGate, catalog_id: str | None,
                           sha256: str | None) -> None:
    if not policy.downloads_allowed:
        raise DownloadsDisabledError("downloads are turned off by your organization's policy "
                                     f"({policy.file}); ask your IT department for the model")
    if gate.restricts and sha256 is not None and not gate.allows_digest(sha256):
        what = f"'{catalog_id}'" if catalog_id else "this file"
        reason = ("is not on your organization's list of allowed models" if sha256 else
                  "has no known sha256, so it cannot be matched against your organization's "
                  "list of allowed models")
        raise DownloadsDisabledError(f"{what} {reason}; it was not downloaded")


def build_services(paths: Paths, environ: Mapping[str, str] | None = None) -> Services:
    """Services for one process; the policy comes from the machine (or SCALPEL_POLICY)."""
    paths.ensure()
    policy = load_policy(paths.system_config_dir, environ)
    locked = dict(policy.locked_settings)
    if (escalation := policy_escalation(policy)) is not None:  # the policy's object wins
        locked["escalation"] = escalation.to_dict()
    store = SettingsStore(paths.settings_file, locked=locked)
    return Services(paths=paths, settings_store=store, settings=store.load(),
                    cpu=hardware.cpu_info(), policy=policy)
