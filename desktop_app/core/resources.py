"""Find files under ``resources/`` the same way from source, wheel or frozen app."""

from __future__ import annotations

import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    candidates = []
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:  # PyInstaller one-folder/one-file bundle
        candidates.append(Path(frozen_root) / "resources")
    candidates += [
        _PACKAGE_DIR / "resources",          # installed wheel (copied in at build time)
        _PACKAGE_DIR.parent / "resources",   # source checkout / editable install
    ]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[-1]


def resource_path(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)
