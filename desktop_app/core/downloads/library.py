"""Adding, removing and re-checking models in the models directory."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelFileError, ScalpelError, format_size
from ..gguf_inspect import inspect_gguf
from .installed import InstalledModel, InstalledStore, sha256_of
from .transfer import check_free_space

if TYPE_CHECKING:
    from ..policy import ModelGate


@dataclass(frozen=True)
class VerifyResult:
    path: str
    ok: bool
    message: str


class ModelLibrary:
    def __init__(self, models_dir: Path, *, gate: "ModelGate | None" = None) -> None:
        self.models_dir = Path(models_dir)
        self.store = InstalledStore(self.models_dir)
        self.gate = gate  # the organization's allow-list: a refused file is not imported

    def import_file(self, source: Path, *, copy: bool = True) -> Path:
        """Validate a local GGUF, then copy it in (or reference it where it is)."""
        source = Path(source).expanduser()
        info = inspect_gguf(source)  # raises a ModelFileError with the reason
        if self.gate:
            self.gate.check(source)
        if not copy:
            self.store.record(source, sha256=sha256_of(source), size=info.file_size,
                              source="reference")
            return source.resolve()
        dest = self.models_dir / "imported" / source.name
        if dest.exists():
            raise ModelFileError(f"a model named {source.name} is already imported; remove it "
                                 "first or rename the file", path=str(source))
        check_free_space(self.models_dir, info.file_size)
        staging = dest.with_name(dest.name + ".importing")
        staging.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(source, staging)
            os.replace(staging, dest)
        except OSError as exc:
            staging.unlink(missing_ok=True)
            raise ScalpelError(f"could not copy {source.name}: {exc.strerror or exc}") from exc
        self.store.record(dest, sha256=sha256_of(dest), size=info.file_size, source="import")
        return dest

    def remove(self, path: Path) -> int:
        """Delete a model file inside the models directory (or forget a reference).

        Returns the bytes freed.
        """
        path = Path(path)
        inside = _is_inside(path, self.models_dir)
        freed = 0
        if inside and path.exists():
            freed = path.stat().st_size
            path.unlink()
            _prune_empty_dirs(path.parent, self.models_dir)
        elif not inside and self.store.get(path) is None:
            raise ScalpelError(f"{path} is not in Scalpel's models folder; delete it yourself "
                               "if you want it gone")
        self.store.forget(path)
        return freed

    def verify(self) -> list[VerifyResult]:
        """Re-hash every recorded model against the sha256 it was installed with."""
        results = []
        for entry in self.store.all():
            results.append(self._verify_one(entry))
        return results

    def _verify_one(self, entry: InstalledModel) -> VerifyResult:
        path = self.store.absolute(entry)
        if not path.exists():
            return VerifyResult(str(path), False, "missing")
        size = path.stat().st_size
        if size != entry.size:
            return VerifyResult(str(path), False,
                                f"size changed: {format_size(size)} instead of {format_size(entry.size)}")
        if sha256_of(path) != entry.sha256:
            return VerifyResult(str(path), False, "corrupt: sha256 does not match")
        return VerifyResult(str(path), True, "ok")


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
        return True
    except ValueError:
        return False


def _prune_empty_dirs(directory: Path, stop: Path) -> None:
    stop = stop.resolve()
    directory = directory.resolve()
    while directory != stop and _is_inside(directory, stop):
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
