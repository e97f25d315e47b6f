"""Where Scalpel keeps its files.

One :class:`Paths` value is built at start-up and passed to every service;
nothing else in the program asks the OS for directories. When the environment
variable ``SCALPEL_HOME`` is set, every file lives under it (tests and portable
installs); otherwise platformdirs gives the usual per-user locations.

``system_config_dir`` is the machine-wide folder IT fills (presets now, policy
later): ``/etc/scalpel`` on Linux, ``%ProgramData%\\Scalpel`` on Windows,
``/Library/Application Support/Scalpel`` on macOS, or ``SCALPEL_SYSTEM_CONFIG``.
Under ``SCALPEL_HOME`` only that variable sets it, so tests never read ``/etc``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

import platformdirs

APP_NAME = "Scalpel"
HOME_ENV = "SCALPEL_HOME"
SYSTEM_CONFIG_ENV = "SCALPEL_SYSTEM_CONFIG"


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    cache_dir: Path
    log_dir: Path
    system_config_dir: Path | None = None  # machine-wide, read-only for the app

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @classmethod
    def under(cls, root: Path) -> "Paths":
        """Everything inside one folder (``SCALPEL_HOME`` and tests)."""
        root = Path(root).expanduser().resolve()
        return cls(
            config_dir=root / "config",
            data_dir=root / "data",
            cache_dir=root / "cache",
            log_dir=root / "logs",
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> "Paths":
        environ = os.environ if environ is None else environ
        home = environ.get(HOME_ENV, "").strip()
        system = environ.get(SYSTEM_CONFIG_ENV, "").strip()
        if home:
            return replace(cls.under(Path(home)),
                           system_config_dir=Path(system) if system else None)
        return cls(
            config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            cache_dir=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
            log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
            system_config_dir=Path(system) if system else default_system_config_dir(),
        )

    def ensure(self) -> "Paths":
        """Create the directories (idempotent) and return self."""
        for directory in (self.config_dir, self.data_dir, self.cache_dir,
                          self.log_dir, self.models_dir):
            directory.mkdir(parents=True, exist_ok=True)
        return self

    def describe(self) -> dict[str, str]:
        return {
            "config": str(self.config_dir),
            "data": str(self.data_dir),
            "models": str(self.models_dir),
            "cache": str(self.cache_dir),
            "logs": str(self.log_dir),
            "machine-wide config": str(self.system_config_dir) if self.system_config_dir
            else "(none)",
        }


def default_system_config_dir() -> Path:
    if sys.platform.startswith("win"):
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / APP_NAME
    if sys.platform == "darwin":
        return Path("/Library/Application Support") / APP_NAME
    return Path("/etc/scalpel")
