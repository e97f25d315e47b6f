"""Decides whether a model file may be loaded under the policy.

The allow-list names catalog ids and sha256 digests; a catalog id stands for
its catalog sha256. A file is allowed when its own sha256 is on the list, so a
renamed, imported or copied file is judged by its bytes, not its name.

The verdict that counts is taken in the engine's process, from the same open
file llama.cpp then loads (``check_descriptor``; see engine/model_file.py), so
nothing done to the path after the check changes what is loaded. A file that
cannot be read to be checked is refused. Digests are also kept per (path, size,
mtime, inode) in the user's cache folder (``HashCache``), but only to grey out
refused models in lists without reading them: a user can write that file, so it
never lets a load through.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ..errors import ModelNotAllowedError
from ..json_files import MAX_BYTES_RECORDS, JsonFileError, read_json_file
from .model import RESTRICTED_SOURCE, Policy

if TYPE_CHECKING:
    from ..catalog import Catalog

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"[0-9a-f]{64}")


class HashCache:
    """sha256 digests of model files, valid while the file's identity is unchanged."""

    def __init__(self, file: Path | None) -> None:
        self.file = file
        self._lock = threading.Lock()
        self._entries: dict[str, dict] | None = None

    @staticmethod
    def _identity(path: Path) -> dict:
        st = path.stat()
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}

    def _load(self) -> dict[str, dict]:
        if self._entries is None:
            data: object = {}
            if self.file is not None:
                try:
                    data = read_json_file(self.file, max_bytes=MAX_BYTES_RECORDS)
                except JsonFileError as exc:  # a cache that cannot be read only costs time
                    if not exc.missing:
                        log.warning("model digests are hashed again: %s", exc)
            self._entries = data if isinstance(data, dict) else {}
        return self._entries

    def known(self, path: Path) -> str | None:
        """The cached digest, without reading the file."""
        path = Path(path).resolve()
        with self._lock:
            entry = self._load().get(str(path))
        try:
            identity = self._identity(path)
        except OSError:
            return None
        if not isinstance(entry, dict) or not _SHA256.fullmatch(str(entry.get("sha256"))):
            return None  # none cached, or an entry of the wrong shape
        if all(entry.get(k) == v for k, v in identity.items()):
            return entry["sha256"]
        return None

    def sha256(self, path: Path) -> str:
        """The digest for lists: from the cache when the file looks unchanged, else hashed
        and kept. Never for deciding a load (a user can write the cache)."""
        path = Path(path).resolve()
        if (digest := self.known(path)) is not None:
            return digest
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            digest = digest_of_descriptor(f.fileno())
        self.remember(path, st, digest)
        return digest

    def remember(self, path: Path, st: os.stat_result, sha256: str) -> None:
        """Keep ``sha256`` for the file at ``path`` as ``st`` described it when hashed."""
        identity = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}
        with self._lock:
            self._load()[str(Path(path).resolve())] = {**identity, "sha256": sha256}
            self._save()

    def _save(self) -> None:
        if self.file is None:
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._entries, indent=1), encoding="utf-8")
            os.replace(tmp, self.file)
        except OSError as exc:  # a cache that cannot be written only costs time
            log.warning("could not save model digests to %s: %s", self.file, exc)


class ModelGate:
    """``check(path)`` raises :class:`ModelNotAllowedError` for a file the policy refuses."""

    def __init__(self, policy: Policy, catalog: "Catalog | None" = None, *,
                 cache: HashCache | None = None) -> None:
        self.policy = policy
        self.cache = cache or HashCache(None)
        self.allowed_digests, self.unresolved = _digests_for(policy, catalog)

    @property
    def restricts(self) -> bool:
        return self.policy.allowed_models is not None

    def allows_digest(self, sha256: str | None) -> bool:
        return not self.restricts or (sha256 or "").lower() in self.allowed_digests

    def check(self, path: Path, *, name: str | None = None) -> None:
        """Refuse ``path`` unless its bytes, read now, are allowed (an import's check)."""
        if not self.restricts:
            return
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            raise self._unreadable(path, name, exc) from exc
        try:
            self.check_descriptor(fd, Path(path), name=name)
        finally:
            os.close(fd)

    def check_descriptor(self, fd: int, path: Path, *, name: str | None = None) -> str:
        """Refuse the open file ``fd`` (opened from ``path``) unless its bytes are allowed;
        its sha256 when they are. Hashing that fails is a refusal, never a pass."""
        if not self.restricts:
            return ""
        try:
            st = os.fstat(fd)
            digest = digest_of_descriptor(fd)
        except OSError as exc:
            raise self._unreadable(path, name, exc) from exc
        self.cache.remember(path, st, digest)  # for lists only (see the module's doc)
        if digest not in self.allowed_digests:
            raise ModelNotAllowedError(self.refusal(name or Path(path).name), path=str(path))
        return digest

    def _unreadable(self, path: Path, name: str | None, exc: OSError) -> ModelNotAllowedError:
        reason = exc.strerror or str(exc)
        return ModelNotAllowedError(
            f"{name or Path(path).name} cannot be loaded: Scalpel could not read it to check "
            f"it against your organization's list of allowed models ({reason})",
            path=str(path))

    def verdict_without_reading(self, path: Path, known_sha256: str | None = None) -> bool | None:
        """True/False when it can be told without hashing the file, else None (unknown)."""
        if not self.restricts:
            return True
        digest = self.cache.known(Path(path)) or known_sha256
        return None if digest is None else digest.lower() in self.allowed_digests

    @property
    def closed_by_problems(self) -> bool:
        """No model is allowed because the file is broken, not because IT listed none."""
        return self.policy.source_of("allowed_models") == RESTRICTED_SOURCE

    def refusal(self, what: str) -> str:
        if self.closed_by_problems:
            return (f"{what} cannot be loaded: your organization's policy file has problems, so "
                    "no model is allowed until IT fixes it (`scalpel policy show` says what)")
        return (f"{what} is not on your organization's list of allowed models "
                f"({self.policy.file}); ask your IT department to allow it")


def digest_of_descriptor(fd: int, *, block: int = 8 << 20) -> str:
    """sha256 of the whole open file ``fd``, read with pread where there is one (its
    offset is left alone), else from its start (Windows)."""
    digest = hashlib.sha256()
    if not hasattr(os, "pread"):
        os.lseek(fd, 0, os.SEEK_SET)
        while chunk := os.read(fd, block):
            digest.update(chunk)
        return digest.hexdigest()
    offset = 0
    while chunk := os.pread(fd, block, offset):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


def _digests_for(policy: Policy, catalog: "Catalog | None") -> tuple[frozenset[str], list[str]]:
    """The allowed sha256 set, and a sentence for each id that names no known file."""
    digests = set(policy.allowed_sha256)
    unresolved: list[str] = []
    for model_id in sorted(policy.allowed_ids):
        entry = catalog.get(model_id) if catalog else None
        if entry is None:
            unresolved.append(f"'{model_id}' is not in this Scalpel's catalog; "
                              "list the file's sha256 instead")
        elif not entry.sha256:
            unresolved.append(f"the catalog has no sha256 for '{model_id}'; "
                              "list the file's sha256 instead")
        else:
            digests.add(entry.sha256.lower())
    return frozenset(digests), unresolved


def allowed_catalog_ids(gate: ModelGate, ids: Iterable[str], catalog: "Catalog") -> set[str]:
    """The catalog ids among ``ids`` whose file the policy allows."""
    return {i for i in ids if (e := catalog.get(i)) and gate.allows_digest(e.sha256)}
