"""How an installed model is named on screen, in one place for every list that shows one.

A model is named by its catalog entry when it came from the catalog (or is the built-in
starter), else by the GGUF's own ``general.name``, else (a file that has none) by its
file name. The model manager's Installed tab and the window's model box both name
models this way, so a model is called the same in both; the GGUF is read off the GUI
thread, once per file version (its path and modification time).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal, Slot

from ...core.errors import ScalpelError
from ...core.gguf_inspect import inspect_gguf
from ...core.models import ModelRef
from ...core.services import EMBEDDING_ARCHITECTURES
from .common import BackgroundCall

log = logging.getLogger(__name__)

GgufNames = dict[tuple[str, float], tuple[str | None, bool]]  # (path, mtime) -> name, embedding


def catalog_entry_for(services, ref: ModelRef):
    """The catalog entry a model came from (the starter's own entry), or None."""
    catalog = services.catalog
    if ref.source == "starter":
        return catalog.get(ref.id)
    record = services.library.store.get(ref.path) if ref.source == "library" else None
    if record is not None:
        return catalog.get(record.catalog_id or "") or catalog.by_file(
            record.repo or "", record.filename or "")
    return None


def catalog_names(services, models: list[ModelRef]) -> tuple[dict[str, str], dict[str, str]]:
    """Names and kinds ("chat", "embedding") by path, of the models the catalog knows."""
    names, kinds = {}, {}
    for ref in models:
        entry = catalog_entry_for(services, ref)
        if entry is not None:
            names[str(ref.path)] = entry.name
            kinds[str(ref.path)] = entry.kind
    return names, kinds


def read_gguf_names(models: list[ModelRef], known: GgufNames) -> GgufNames:
    """Each GGUF's ``general.name`` and whether it is an embedding model, for the file
    versions not in ``known``; a file that cannot be read is left out. Off the GUI thread."""
    found = {}
    for ref in models:
        try:
            key = (str(ref.path), ref.path.stat().st_mtime)
            if key in known:
                continue
            info = inspect_gguf(ref.path, check_size=False)
        except (OSError, ScalpelError):
            continue
        arch = info.architecture or ""
        embedding = arch in EMBEDDING_ARCHITECTURES or f"{arch}.pooling_type" in info.metadata
        name = info.name.strip() if isinstance(info.name, str) else None
        found[key] = (name or None, embedding)
    return found


def merged_names(gguf: GgufNames, catalog: tuple[dict[str, str], dict[str, str]]
                 ) -> tuple[dict[str, str], dict[str, str]]:
    """Names and kinds by path: the GGUFs' own, the catalog's winning where it has one."""
    names, kinds = {}, {}
    for (path, _mtime), (name, embedding) in gguf.items():
        if name:
            names[path] = name
        if embedding:
            kinds[path] = "embedding"
    names.update(catalog[0])
    kinds.update(catalog[1])
    return names, kinds


class ModelNames(QObject):
    """Names for the window's model lists: ``name_of`` answers at once from what is known;
    ``read`` reads the GGUFs not read yet on a worker, and ``changed`` follows when that
    brought a new name."""

    changed = Signal()

    def __init__(self, services, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._gguf: GgufNames = {}
        self._by_path: dict[str, str] = {}
        self._reading = False
        self._again: list[ModelRef] | None = None

    def name_of(self, ref: ModelRef) -> str:
        entry = catalog_entry_for(self._services, ref)
        if entry is not None:
            return entry.name
        return self._by_path.get(str(ref.path)) or ref.name

    def read(self, models: list[ModelRef]) -> None:
        """Read the names of the GGUFs of ``models`` not read yet (one read at a time)."""
        unnamed = [ref for ref in models if catalog_entry_for(self._services, ref) is None]
        if not unnamed:
            return
        if self._reading:
            self._again = unnamed
            return
        self._reading = True
        known = dict(self._gguf)
        BackgroundCall.start(lambda: read_gguf_names(unnamed, known), self._on_read,
                             self._on_failed)

    @Slot(object)
    def _on_read(self, found: GgufNames) -> None:
        self._reading = False
        self._gguf.update(found)
        before = dict(self._by_path)
        for (path, _mtime), (name, _embedding) in found.items():   # versions read now
            if name:
                self._by_path[path] = name
            else:
                self._by_path.pop(path, None)
        if self._by_path != before:
            self.changed.emit()
        again, self._again = self._again, None
        if again:
            self.read(again)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._reading = False
        self._again = None
        log.info("could not read model names: %s", message)

