"""The effective machine-wide policy IT sets, and where each value came from.

A machine without a policy file gets :meth:`Policy.unmanaged`: everything
allowed, nothing locked. The values are plain data so the CLI, the engine and
the GUI read the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

FILE_NAME = "policy.json"
POLICY_ENV = "SCALPEL_POLICY"   # a policy file to use instead of the system one (tests, trials)
FORMAT_VERSION = 1

# Settings IT can fix, with the rule each value must follow.
LOCKABLE_SETTINGS: dict[str, tuple[str, Any]] = {
    "n_threads": ("a whole number of CPU threads from 1 to 512, or null for automatic",
                  lambda v: v is None or (_is_int(v) and 1 <= v <= 512)),
    "n_ctx": ("a context size in tokens from 128 to 1048576",
              lambda v: _is_int(v) and 128 <= v <= 1_048_576),
    "n_gpu_layers": ("a number of layers to put on the GPU: 0 for none, -1 for all",
                     lambda v: _is_int(v) and v >= -1),
    "keep_models_loaded": ("how many models stay loaded, from 1 to 8",
                           lambda v: _is_int(v) and 1 <= v <= 8),
}

KEYS = ("version", "allowed_models", "model_dirs", "downloads_allowed", "hub_endpoint",
        "proxy", "ca_bundle", "default_preset", "presets_dir", "locked_settings",
        "api_enabled", "api_interfaces", "api_origins", "escalation",
        "documents_enabled", "documents_folders")

DEFAULT_SOURCE = "default"
RESTRICTED_SOURCE = "restricted: the policy file has problems"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Policy:
    """What the organization allows on this machine.

    ``allowed_models`` is None when any model may be loaded; otherwise it holds
    catalog ids and ``sha256:<hex>`` entries, and an empty tuple allows none.
    """

    allowed_models: tuple[str, ...] | None = None
    model_dirs: tuple[Path, ...] = ()
    downloads_allowed: bool = True
    hub_endpoint: str | None = None
    proxy: str | None = None
    ca_bundle: Path | None = None
    default_preset: str | None = None
    presets_dir: Path | None = None
    locked_settings: Mapping[str, Any] = field(default_factory=dict)
    # The local API (core/api): whether it may run at all; the addresses it may listen on
    # besides loopback (None: the person chooses; a tuple: only these); the web origins
    # that get CORS headers (None: the person's own list; a tuple: only these).
    api_enabled: bool = True
    api_interfaces: tuple[str, ...] | None = None
    api_origins: tuple[str, ...] | None = None
    # Escalation to the organization's bigger model (core/escalation): an EscalationConfig
    # that locks it, or None when the person's settings decide.
    escalation: Any = None
    # Your own documents (core/documents): whether they may be used at all; the folders
    # they may come from (None: any; a tuple: only files inside these).
    documents_enabled: bool = True
    documents_folders: tuple[Path, ...] | None = None
    file: Path | None = None                   # the file read; None when unmanaged
    problems: tuple[str, ...] = ()             # what was wrong with it, one sentence each
    sources: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def unmanaged(cls) -> "Policy":
        return cls()

    @property
    def managed(self) -> bool:
        return self.file is not None

    def is_locked(self, setting: str) -> bool:
        return setting in self.locked_settings

    def source_of(self, key: str) -> str:
        return self.sources.get(key, DEFAULT_SOURCE)

    @property
    def allowed_sha256(self) -> frozenset[str]:
        return frozenset(item.split(":", 1)[1] for item in self.allowed_models or ()
                         if item.startswith("sha256:"))

    @property
    def allowed_ids(self) -> frozenset[str]:
        return frozenset(item for item in self.allowed_models or ()
                         if not item.startswith("sha256:"))

    def to_dict(self) -> dict[str, Any]:
        """The effective values, JSON-ready, in the file's own key names."""
        return {
            "allowed_models": None if self.allowed_models is None else list(self.allowed_models),
            "model_dirs": [str(p) for p in self.model_dirs],
            "downloads_allowed": self.downloads_allowed,
            "hub_endpoint": self.hub_endpoint,
            "proxy": self.proxy,
            "ca_bundle": str(self.ca_bundle) if self.ca_bundle else None,
            "default_preset": self.default_preset,
            "presets_dir": str(self.presets_dir) if self.presets_dir else None,
            "locked_settings": dict(self.locked_settings),
            "api_enabled": self.api_enabled,
            "api_interfaces": None if self.api_interfaces is None else list(self.api_interfaces),
            "api_origins": None if self.api_origins is None else list(self.api_origins),
            "escalation": None if self.escalation is None else self.escalation.to_dict(),
            "documents_enabled": self.documents_enabled,
            "documents_folders": None if self.documents_folders is None
            else [str(p) for p in self.documents_folders],
        }

    def describe(self) -> dict[str, Any]:
        """``to_dict`` plus the file, its problems and each value's source."""
        return {
            "file": str(self.file) if self.file else None,
            "managed": self.managed,
            "problems": list(self.problems),
            "values": {key: {"value": value, "source": self.source_of(key)}
                       for key, value in self.to_dict().items()},
        }
