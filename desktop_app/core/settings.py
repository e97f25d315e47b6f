"""User settings stored as readable JSON in the config directory.

Unknown keys are kept on save so a newer Scalpel's settings survive an older
one. A damaged file is not fatal: it is moved aside with a ``.bad`` suffix and
defaults are used, with a warning the UI can show.

Settings the organization's policy locks are laid over what the file says when
it is loaded, and the person's own values are written back untouched on save,
so they return if the lock is lifted.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

log = logging.getLogger(__name__)

MAX_RECENT_MODELS = 10


@dataclass
class Settings:
    n_threads: int | None = None        # None: chosen by hardware.choose_threads
    n_ctx: int = 4096                   # capped by the model's trained context
    n_gpu_layers: int = 0               # 0 = CPU only; -1 = everything the GPU holds
    max_tokens: int = 1024
    temperature: float = 0.7
    keep_models_loaded: int = 1         # models kept open for instant switching (RAM allowing)
    last_preset: str | None = None
    last_chat_id: int | None = None
    window_geometry: str | None = None  # Qt's saveGeometry, base64
    splitter_sizes: list[int] = field(default_factory=list)
    last_model: str | None = None       # model id or path
    hub_endpoint: str | None = None     # an internal mirror; default: HF_ENDPOINT or the Hub
    hub_token: str | None = None        # for gated repos; default: HF_TOKEN / `hf auth login`
    recent_models: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def remember_model(self, path: str) -> None:
        """Put a model path first in the recent list (deduplicated, bounded)."""
        recent = [p for p in self.recent_models if p != path]
        self.recent_models = [path, *recent][:MAX_RECENT_MODELS]

    def validate(self) -> None:
        if self.n_threads is not None and not 1 <= self.n_threads <= 512:
            raise ConfigError(f"n_threads must be between 1 and 512, not {self.n_threads}")
        if not 128 <= self.n_ctx <= 1_048_576:
            raise ConfigError(f"n_ctx must be between 128 and 1048576, not {self.n_ctx}")
        if self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be at least 1, not {self.max_tokens}")
        if not 1 <= self.keep_models_loaded <= 8:
            raise ConfigError("keep_models_loaded must be between 1 and 8, "
                              f"not {self.keep_models_loaded}")
        if not 0.0 <= self.temperature <= 5.0:
            raise ConfigError(f"temperature must be between 0 and 5, not {self.temperature}")


_KNOWN = {f.name for f in fields(Settings)} - {"extra"}


class SettingsStore:
    """Loads and saves :class:`Settings` at one path."""

    def __init__(self, path: Path, *, locked: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.locked = dict(locked or {})
        self.warning: str | None = None

    def load(self) -> Settings:
        settings = self._load_own()
        for name, value in self.locked.items():
            setattr(settings, name, value)
        return settings

    def _load_own(self) -> Settings:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return Settings()
        except (OSError, ValueError) as exc:
            return self._recover(f"settings file could not be read ({exc})")
        if not isinstance(raw, dict):
            return self._recover("settings file does not hold a JSON object")
        known = {k: v for k, v in raw.items() if k in _KNOWN}
        extra = {k: v for k, v in raw.items() if k not in _KNOWN}
        try:
            settings = Settings(**known, extra=extra)
            settings.validate()
        except (TypeError, ConfigError) as exc:
            return self._recover(f"settings file has a bad value: {exc}")
        return settings

    def save(self, settings: Settings) -> None:
        data = asdict(settings)
        extra = data.pop("extra")
        data = {**extra, **data}
        if self.locked:
            own = asdict(self._load_own())
            data.update({name: own[name] for name in self.locked})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def _recover(self, reason: str) -> Settings:
        backup = self.path.with_suffix(".json.bad")
        try:
            os.replace(self.path, backup)
            self.warning = f"{reason}; defaults are in use and the old file is at {backup}"
        except OSError:
            self.warning = f"{reason}; defaults are in use"
        log.warning(self.warning)
        return Settings()
