"""The record of verified models in a models directory.

``<models_dir>/installed.json`` maps each file (relative path) to where it
came from and its sha256, so ``scalpel models verify`` can re-hash it and the
manager can show the source. Files are laid out as ``<owner>/<repo>/<file>``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from ..json_files import MAX_BYTES_RECORDS, JsonFileError, read_json_file

log = logging.getLogger(__name__)

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
        """The records as stored, damaged entries included (they are kept on write)."""
        return self._load()[0]

    def _load(self) -> tuple[dict[str, Any], str | None]:
        """The stored records, and why the file cannot be used (None when it can)."""
        try:
            data = read_json_file(self.manifest, max_bytes=MAX_BYTES_RECORDS)
        except JsonFileError as exc:
            return {}, None if exc.missing else str(exc)
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, dict):
            return {}, f"{self.manifest} does not hold a \"models\" object"
        return models, None

    def _write(self, models: dict[str, dict]) -> None:
        self.models_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.manifest.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"version": 1, "models": models}, indent=2), encoding="utf-8")
        os.replace(tmp, self.manifest)

    def _update(self, change: Callable[[dict[str, Any]], bool]) -> None:
        """Apply ``change`` to the stored records and write them; an unusable file is
        first moved aside (``installed.json.bad``) rather than overwritten."""
        with self._lock:
            models, problem = self._load()
            if problem is not None:
                backup = self.manifest.with_suffix(".json.bad")
                log.warning("%s; it was moved to %s and a new record started", problem, backup)
                os.replace(self.manifest, backup)
            if change(models):
                self._write(models)

    def key_for(self, path: Path) -> str:
        path = Path(path)
        try:
            return path.resolve().relative_to(self.models_dir.resolve()).as_posix()
        except ValueError:
            return str(path.resolve())  # a referenced file outside the models directory

    def record(self, path: Path, **fields) -> InstalledModel:
        entry = InstalledModel(path=self.key_for(path), installed_at=time.time(), **fields)

        def add(models: dict[str, Any]) -> bool:
            models[entry.path] = asdict(entry)
            return True

        self._update(add)
        return entry

    def forget(self, path: Path) -> None:
        key = self.key_for(path)
        self._update(lambda models: models.pop(key, None) is not None)

    def all(self) -> list[InstalledModel]:
        entries = (_entry_from(raw) for raw in self._read().values())
        return [entry for entry in entries if entry is not None]

    def get(self, path: Path) -> InstalledModel | None:
        return _entry_from(self._read().get(self.key_for(path)))

    def absolute(self, entry: InstalledModel) -> Path:
        path = Path(entry.path)
        return path if path.is_absolute() else self.models_dir / path


# field -> accepted JSON types; the first four are required
_FIELDS: dict[str, tuple[type, ...]] = {
    "path": (str,), "sha256": (str,), "size": (int,), "source": (str,),
    "repo": (str, type(None)), "filename": (str, type(None)), "commit": (str, type(None)),
    "catalog_id": (str, type(None)), "installed_at": (int, float),
}
_REQUIRED = ("path", "sha256", "size", "source")


def _entry_from(raw: Any) -> InstalledModel | None:
    """One stored record, or None when it is not one (wrong shape, hand-edited, newer)."""
    if not isinstance(raw, dict) or any(name not in raw for name in _REQUIRED):
        return None
    values = {name: raw[name] for name in _FIELDS if name in raw}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, _FIELDS[name]):
            return None
    if not values["path"] or "\x00" in values["path"]:
        return None
    return InstalledModel(**values)
