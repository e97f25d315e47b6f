"""Where Scalpel keeps its files.

One :class:`Paths` value is built at start-up and passed to every service;
nothing else in the program asks the OS for directories. When the environment
variable ``SCALPEL_HOME`` is set, every file lives under it (tests and portable
installs); otherwise platformdirs gives the usual per-user locations.

``system_config_dir`` is the machine-wide folder IT fills (policy, presets):
``/etc/scalpel`` on Linux, ``%ProgramData%\\Scalpel`` on Windows,
``/Library/Application Support/Scalpel`` on macOS. When that real folder holds a
``policy.json``, it is the machine-wide folder whatever the environment says: no
variable a user can set replaces or hides it. Only on a machine without one may
``SCALPEL_SYSTEM_CONFIG`` name another folder (tests, trials); under
``SCALPEL_HOME`` only that variable sets it, so tests never read ``/etc``.
The real location comes from code, never from the environment; tests move it with
:data:`MACHINE_CONFIG_DIR` (``tests/policy_launcher.py``) or a ``machine_dir`` argument.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

import platformdirs

from .errors import ConfigError

APP_NAME = "Scalpel"
HOME_ENV = "SCALPEL_HOME"
SYSTEM_CONFIG_ENV = "SCALPEL_SYSTEM_CONFIG"
MACHINE_POLICY_NAME = "policy.json"

# The machine-wide folder, set in code only (a test's launcher; see the module's doc).
# None: the operating system's own location (default_system_config_dir).
MACHINE_CONFIG_DIR: Path | None = None


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

    @property
    def usage_log_file(self) -> Path:
        """Where each answer's origin is logged (local or remote; core/escalation)."""
        return self.data_dir / "answer-origins.sqlite3"

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
    def from_environment(cls, environ: Mapping[str, str] | None = None, *,
                         machine_dir: Path | None = None) -> "Paths":
        """``machine_dir`` stands for the real machine-wide folder (tests only)."""
        environ = os.environ if environ is None else environ
        home = environ.get(HOME_ENV, "").strip()
        machine = machine_config_dir(machine_dir)
        system = environ.get(SYSTEM_CONFIG_ENV, "").strip()
        if machine_policy_file(machine) is not None:
            chosen: Path | None = machine  # a machine policy: the environment cannot move it
        elif system:
            chosen = Path(system)
        else:
            chosen = None if home else machine
        if home:
            return replace(cls.under(Path(home)), system_config_dir=chosen)
        return cls(
            config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            cache_dir=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
            log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
            system_config_dir=chosen,
        )

    def ensure(self) -> "Paths":
        """Create the directories (idempotent) and return self; FolderError if one cannot be."""
        for name, directory in (("config", self.config_dir), ("data", self.data_dir),
                                ("cache", self.cache_dir), ("log", self.log_dir),
                                ("models", self.models_dir)):
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise FolderError(name, directory, exc) from exc
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


class FolderError(ConfigError):
    """A folder Scalpel keeps its files in cannot be created."""

    def __init__(self, name: str, directory: Path, exc: OSError) -> None:
        blocker = _file_in_the_way(directory)
        if blocker == directory:
            why = "a file with that name is in the way"
        elif blocker is not None:
            why = f"{blocker} is a file, not a folder"
        elif isinstance(exc, PermissionError):
            why = "you are not allowed to write there"
        else:
            why = exc.strerror or str(exc)
        move = "Move that file away, or set" if blocker is not None else "Set"
        super().__init__(f"Scalpel cannot create its {name} folder {directory}: {why}. "
                         f"{move} {HOME_ENV} to a folder you can write to.")
        self.directory = directory


def _file_in_the_way(directory: Path) -> Path | None:
    """``directory`` or the nearest of its parents that exists as something not a folder."""
    for candidate in (directory, *directory.parents):
        try:
            if candidate.exists():
                return None if candidate.is_dir() else candidate
        except OSError:
            return None
    return None


def machine_config_dir(machine_dir: Path | None = None) -> Path:
    """The real machine-wide folder: ``machine_dir`` (tests), MACHINE_CONFIG_DIR (a
    test's launcher), else the operating system's. Never read from the environment."""
    return Path(machine_dir or MACHINE_CONFIG_DIR or default_system_config_dir())


def machine_policy_file(machine_dir: Path | None = None) -> Path | None:
    """The machine's policy file when the machine has one, else None.

    Anything but a clear "no such file" counts as having one (a folder users may not
    look into, a broken link): the policy reader then applies its restrictive reading."""
    path = machine_config_dir(machine_dir) / MACHINE_POLICY_NAME
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return path
    return path


def default_system_config_dir() -> Path:
    if sys.platform.startswith("win"):
        # From the OS, not %PROGRAMDATA%: a user can set that variable.
        return _windows_program_data() / APP_NAME
    if sys.platform == "darwin":
        return Path("/Library/Application Support") / APP_NAME
    return Path("/etc/scalpel")


def _windows_program_data() -> Path:
    """FOLDERID_ProgramData from SHGetKnownFolderPath (usually C:\\ProgramData)."""
    import ctypes
    from ctypes import wintypes

    class _Guid(ctypes.Structure):
        _fields_ = [("d1", wintypes.DWORD), ("d2", wintypes.WORD), ("d3", wintypes.WORD),
                    ("d4", ctypes.c_ubyte * 8)]

    program_data = _Guid(0x62AB5D82, 0xFDC1, 0x4DC3,
                         (ctypes.c_ubyte * 8)(0xA9, 0xDD, 0x07, 0x0D, 0x1D, 0x49, 0x5D, 0x97))
    found = ctypes.c_wchar_p()
    try:
        shell32 = ctypes.windll.shell32  # type: ignore[attr-defined]
        if shell32.SHGetKnownFolderPath(ctypes.byref(program_data), 0, None,
                                        ctypes.byref(found)) == 0 and found.value:
            try:
                return Path(found.value)
            finally:
                ctypes.windll.ole32.CoTaskMemFree(found)  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        pass
    return Path(r"C:\ProgramData")
