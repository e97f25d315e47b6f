"""The models Scalpel knows about, listed once and kept until something changes.

Walking the models folder and the policy's folders (possibly network shares)
costs disk and network time, so :class:`ModelListing` walks only when asked
(``refresh()``, from any thread) and answers ``models()`` / ``usable()`` /
``resolve()`` from the last listing without touching the disk. Each model
carries the policy's verdict, taken while listing. Listeners are called, on
the thread that made the change, whenever the listing changed.

The GUI refreshes on a worker thread (``ui/model_listing_bridge.py``); a
process that never refreshes (the CLI) gets one walk on first use.

Embedding models (an ``is_embedding`` probe, asked while walking, once per file
version) are listed but are not chat models: ``models()`` and ``usable()`` leave them
out, so no model menu or preset offers one; ``all_models()`` and
``embedding_models()`` include them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .listeners import Listeners
from .models import ModelRef

if TYPE_CHECKING:
    from .models import ModelRegistry

log = logging.getLogger(__name__)

Verdict = Callable[[ModelRef], "bool | None"]


@dataclass(frozen=True)
class ListedModel:
    """One listed model and the policy's verdict on it (None: known only when loaded)."""

    ref: ModelRef
    allowed: bool | None
    embedding: bool = False

    def to_dict(self) -> dict[str, object]:
        return {**self.ref.to_dict(), "allowed": self.allowed}


class ModelListing:
    """The last listing of ``registry``, refreshed on demand; thread-safe."""

    def __init__(self, registry: "ModelRegistry", verdict: Verdict, *,
                 is_embedding: Callable[[Path], bool] | None = None) -> None:
        self._registry = registry
        self._verdict = verdict
        self._is_embedding = is_embedding
        self._kinds: dict[tuple[str, int, float], bool] = {}   # (path, size, mtime) -> embedding
        self._walk_lock = threading.Lock()   # one walk at a time: the later walk is stored last
        self._lock = threading.Lock()        # guards the fields below
        self._entries: tuple[ListedModel, ...] = ()
        self._listed = False
        self._listeners: Listeners[Callable[[], None]] = Listeners("model listing")

    # -- listing ---------------------------------------------------------------
    def refresh(self) -> bool:
        """Walk the folders once and keep the result; True when it changed.

        A folder that cannot be read lists nothing (logged), as the registry does for an
        unreachable share, so a refresh never takes down its caller's thread.
        """
        with self._walk_lock:
            try:
                found = self._registry.list()
            except OSError as exc:
                log.warning("could not list the models: %s", exc)
                with self._lock:
                    found = [entry.ref for entry in self._entries]
            entries = tuple(ListedModel(ref, self._verdict(ref), self._embedding(ref.path))
                            for ref in found)
            with self._lock:
                changed = not self._listed or entries != self._entries
                self._entries, self._listed = entries, True
        if changed:
            self._notify()
        return changed

    @property
    def listed(self) -> bool:
        """Whether a listing has been made (``models()`` would not walk)."""
        with self._lock:
            return self._listed

    def entries(self) -> tuple[ListedModel, ...]:
        """The last listing; the first call walks if nothing ever refreshed it."""
        if not self.listed:
            self.refresh()
        with self._lock:
            return self._entries

    def _embedding(self, path: Path) -> bool:
        if self._is_embedding is None:
            return False
        try:
            stat = Path(path).stat()
        except OSError:
            return False
        key = (str(path), stat.st_size, stat.st_mtime)
        if key not in self._kinds:
            self._kinds[key] = bool(self._is_embedding(Path(path)))
        return self._kinds[key]

    def models(self) -> list[ModelRef]:
        """The chat models listed (embedding models are left out)."""
        return [entry.ref for entry in self.entries() if not entry.embedding]

    def all_models(self) -> list[ModelRef]:
        return [entry.ref for entry in self.entries()]

    def embedding_models(self) -> list[ModelRef]:
        """Listed embedding models the policy does not refuse."""
        return [entry.ref for entry in self.entries()
                if entry.embedding and entry.allowed is not False]

    def usable(self) -> list[ModelRef]:
        """Listed chat models, less those the policy is known to refuse."""
        return [entry.ref for entry in self.entries()
                if entry.allowed is not False and not entry.embedding]

    def refused_paths(self) -> set[str]:
        return {str(entry.ref.path) for entry in self.entries() if entry.allowed is False}

    def find(self, path: str | Path) -> ModelRef | None:
        """The listed model at ``path`` (the same string, or the same file through links)."""
        models = self.all_models()
        text = str(path)
        for ref in models:
            if str(ref.path) == text:
                return ref
        real = Path(path).resolve()
        return next((ref for ref in models if ref.path.resolve() == real), None)

    def resolve(self, id_or_path: str) -> ModelRef:
        """``ModelRegistry.resolve`` against the last listing (no walk)."""
        return self._registry.resolve(id_or_path, known=self.all_models())

    # -- changes known without walking -------------------------------------------
    def include(self, ref: ModelRef) -> bool:
        """Add a model known to exist (a file just opened); True when it was not listed."""
        if self.find(ref.path) is not None:
            return False
        entry = ListedModel(ref, self._verdict(ref), self._embedding(ref.path))
        with self._lock:
            self._entries = (*self._entries, entry)
        self._notify()
        return True

    def forget(self, path: str | Path) -> bool:
        """Drop a model whose file is gone (just deleted); True when it was listed."""
        ref = self.find(path)
        if ref is None:
            return False
        with self._lock:
            self._entries = tuple(e for e in self._entries if e.ref.path != ref.path)
        self._notify()
        return True

    # -- listeners -------------------------------------------------------------------
    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after each change (on the changing thread); returns an
        unsubscribe function."""
        return self._listeners.add(listener)

    def _notify(self) -> None:
        self._listeners.notify()
