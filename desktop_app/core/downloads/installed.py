"""The record of verified models in a models directory.

``<models_dir>/installed.json`` maps each file (relative path) to where it
came from and its sha256, so ``scalpel models verify`` can re-hash it and the
manager can show the source. Files are laid out as ``<owner>/<repo>/<file>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

MANIFEST = "installed.json"


@dataclass(frozen=True)
class InstalledModel:
    path: str                 # relative to the models directory
    sha256: str
    size: int
    source: str               # "hub", "import" or "reference"
    repo: str | None = None
    filename: str | None = None
    commit: str | None = None
    catalog_id: str | None = None
    installed_at: float = 0.0


def destination_for(models_dir: Path, repo: str, filename: str) -> Path:
    owner, _, name = repo.partition("/")
    return Path(models_dir) / _safe(owner) / _safe(name or owner) / Path(filename).name


def _safe(part: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in part).strip(".")
    return cleaned or "_"


def sha256_of(path: Path, on_progress=None) -> str:
    digest = hashlib.sha256()
    done = 0
    with open(path, "rb") as f:
        while block := f.read(8 << 20):
            digest.update(block)
            done += len(block)
            if on_progress:
                on_progress(done)
    return digest.hexdigest()


class InstalledStore:
    def __init__(self, models_dir: Path) -> None:
        self.models_dir = Path(models_dir)
        self._lock = threading.Lock()

    @property
    def manifest(self) -> Path:
        return self.models_dir / MANIFEST

    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads(self.manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data.get("models", {}) if isinstance(data, dict) else {}

    def _write(self, models: dict[str, dict]) -> None:
        self.models_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.manifest.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"version": 1, "models": models}, indent=2), encoding="utf-8")
        os.replace(tmp, self.manifest)

    def key_for(self, path: Path) -> str:
        path = Path(path)
        try:
            return path.resolve().relative_to(self.models_dir.resolve()).as_posix()
        except ValueError:
            return str(path.resolve())  # a referenced file outside the models directory

    def record(self, path: Path, **fields) -> InstalledModel:
        entry = InstalledModel(path=self.key_for(path), installed_at=time.time(), **fields)
        with self._lock:
            models = self._read()
            models[entry.path] = asdict(entry)
            self._write(models)
        return entry

    def forget(self, path: Path) -> None:
        with self._lock:
            models = self._read()
            if models.pop(self.key_for(path), None) is not None:
                self._write(models)

    def all(self) -> list[InstalledModel]:
        names = set(InstalledModel.__dataclass_fields__)
        return [InstalledModel(**{k: v for k, v in raw.items() if k in names})
                for raw in self._read().values()]

    def get(self, path: Path) -> InstalledModel | None:
        raw = self._read().get(self.key_for(path))
        return InstalledModel(**raw) if raw else None

    def absolute(self, entry: InstalledModel) -> Path:
        path = Path(entry.path)
        return path if path.is_absolute() else self.models_dir / path
