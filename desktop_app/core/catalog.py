"""The curated list of downloadable models shipped in ``resources/catalog.json``.

The catalog is data: each entry names a public Hugging Face repo and one GGUF
file in it, with what a person needs to choose (size, tasks, license) and what
the fit estimate needs (layers, KV heads, head size). Loading validates every
entry so a bad edit fails with a message naming the file, the entry and the field.
Keys the loader does not know (such as ``source_checked``) are ignored.

``kind`` is "chat" (the default) or "embedding": an embedding model turns text into
vectors for search and is never offered as a chat model. It says how its vectors are
pooled ("mean", "cls" or "last") and which prefixes its queries and documents need
("query: " for the E5 family, an instruction for BGE). ``active_parameters`` is the
share of a mixture of experts that each token uses (the speed estimate reads it).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .json_files import MAX_BYTES_CATALOG, JsonFileError, read_json_file
from .resources import resource_path

TASKS = ("chat", "code", "writing", "summarize", "translate", "reasoning", "json")
KINDS = ("chat", "embedding")
POOLINGS = ("mean", "cls", "last")
CATALOG_VERSION = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    name: str
    repo: str
    filename: str
    revision: str | None
    size_bytes: int
    sha256: str | None
    parameters: int
    quantization: str
    context_length: int
    license: str
    tasks: tuple[str, ...]
    description: str
    n_layers: int | None
    n_kv_heads: int | None
    head_dim: int | None
    moe: bool = False
    chat_format: str | None = None   # overrides the file's template (engine.templates.FORMATS)
    kind: str = "chat"               # "chat" or "embedding"
    pooling: str | None = None       # embedding models: "mean", "cls" or "last"
    query_prefix: str = ""           # embedding models: put before a search query
    document_prefix: str = ""        # embedding models: put before a stored passage
    active_parameters: int | None = None   # mixture of experts: parameters used per token

    @property
    def is_embedding(self) -> bool:
        return self.kind == "embedding"

    def active_share(self) -> float:
        """The share of the weights one token reads (1.0 for a dense model)."""
        if self.active_parameters and self.parameters:
            return min(1.0, self.active_parameters / self.parameters)
        return 1.0

    def kv_bytes_per_token(self) -> int | None:
        """Bytes of f16 KV cache one token takes: K and V, every layer; None if unknown."""
        if not (self.n_layers and self.n_kv_heads and self.head_dim):
            return None
        return 2 * self.n_layers * self.n_kv_heads * self.head_dim * 2

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tasks"] = list(self.tasks)
        return data


class Catalog:
    """Read-only lookups over the validated entries."""

    def __init__(self, entries: tuple[CatalogEntry, ...] | list[CatalogEntry]) -> None:
        self.entries: tuple[CatalogEntry, ...] = tuple(entries)
        self._by_id = {entry.id: entry for entry in self.entries}

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def get(self, id: str) -> CatalogEntry | None:
        return self._by_id.get(id)

    def find(self, *, task: str | None = None, text: str = "") -> list[CatalogEntry]:
        """Entries good at ``task`` whose name, id, description or repo contain ``text``."""
        if task is not None and task not in TASKS:
            raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
        needle = text.strip().lower()
        return [
            entry for entry in self.entries
            if (task is None or task in entry.tasks)
            and (not needle or needle in " ".join(
                (entry.name, entry.id, entry.description, entry.repo)).lower())
        ]

    def by_file(self, repo: str, filename: str) -> CatalogEntry | None:
        """The entry for this repo and file (repo compared case-insensitively, as the Hub does)."""
        for entry in self.entries:
            if entry.repo.lower() == repo.lower() and entry.filename == filename:
                return entry
        return None


# field -> (accepted types, required)
_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "id": ((str,), True), "name": ((str,), True), "repo": ((str,), True),
    "filename": ((str,), True), "revision": ((str, type(None)), False),
    "size_bytes": ((int,), True), "sha256": ((str, type(None)), False),
    "parameters": ((int,), True), "quantization": ((str,), True),
    "context_length": ((int,), True), "license": ((str,), True),
    "tasks": ((list,), True), "description": ((str,), True),
    "n_layers": ((int, type(None)), False), "n_kv_heads": ((int, type(None)), False),
    "head_dim": ((int, type(None)), False), "moe": ((bool,), False),
    "chat_format": ((str, type(None)), False),
    "kind": ((str,), False), "pooling": ((str, type(None)), False),
    "query_prefix": ((str,), False), "document_prefix": ((str,), False),
    "active_parameters": ((int, type(None)), False),
}
_DEFAULTS: dict[str, Any] = {"moe": False, "kind": "chat", "query_prefix": "",
                             "document_prefix": ""}
_TYPE_NAMES = {str: "text", int: "a whole number", list: "a list", bool: "true or false",
               type(None): "null"}


def _entry_from(raw: object, where: str) -> CatalogEntry:
    """Validate one raw JSON object; ``where`` names file and entry in messages."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} is not an object")
    values: dict[str, Any] = {}
    for field, (kinds, required) in _FIELDS.items():
        if field not in raw:
            if required:
                raise ConfigError(f"{where} is missing the field {field!r}")
            values[field] = _DEFAULTS.get(field)
            continue
        value = raw[field]
        is_bool = isinstance(value, bool)
        if not isinstance(value, kinds) or (is_bool and bool not in kinds):
            wanted = " or ".join(_TYPE_NAMES[k] for k in kinds)
            raise ConfigError(f"{where}: field {field!r} must be {wanted}, not {value!r}")
        values[field] = value
    for field in ("id", "name", "repo", "filename", "quantization", "license"):
        if not values[field].strip():
            raise ConfigError(f"{where}: field {field!r} is empty")
    for field in ("size_bytes", "parameters", "context_length",
                  "n_layers", "n_kv_heads", "head_dim", "active_parameters"):
        if values[field] is not None and values[field] <= 0:
            raise ConfigError(f"{where}: field {field!r} must be positive, not {values[field]}")
    if not values["filename"].lower().endswith(".gguf"):
        raise ConfigError(f"{where}: field 'filename' must name a .gguf file")
    sha = values["sha256"]
    if sha is not None and not _SHA256.fullmatch(sha.lower()):
        raise ConfigError(f"{where}: field 'sha256' must be 64 hex characters or null")
    _check_kind(values, where)
    tasks = values["tasks"]
    unknown = [t for t in tasks if t not in TASKS]
    if (not tasks and values["kind"] == "chat") or unknown:
        raise ConfigError(f"{where}: field 'tasks' has unknown task(s) {unknown or '(none given)'}; "
                          f"known tasks: {', '.join(TASKS)}")
    values["tasks"] = tuple(tasks)
    if values["chat_format"] is not None:
        from .engine.templates import FORMATS

        if values["chat_format"] not in FORMATS:
            raise ConfigError(f"{where}: field 'chat_format' must be one of "
                              f"{', '.join(FORMATS)}, not {values['chat_format']!r}")
    values["sha256"] = sha.lower() if sha else None
    return CatalogEntry(**values)


def _check_kind(values: dict[str, Any], where: str) -> None:
    kind, pooling = values["kind"], values["pooling"]
    if kind not in KINDS:
        raise ConfigError(f"{where}: field 'kind' must be one of {', '.join(KINDS)}, not {kind!r}")
    if kind == "embedding":
        if pooling not in POOLINGS:
            raise ConfigError(f"{where}: an embedding model needs 'pooling' "
                              f"({', '.join(POOLINGS)}), not {pooling!r}")
        if values["chat_format"] is not None:
            raise ConfigError(f"{where}: an embedding model has no 'chat_format'")
    elif pooling is not None or values["query_prefix"] or values["document_prefix"]:
        raise ConfigError(f"{where}: 'pooling', 'query_prefix' and 'document_prefix' are for "
                          "embedding models (set \"kind\": \"embedding\")")
    active = values["active_parameters"]
    if active is not None and (not values["moe"] or active > values["parameters"]):
        raise ConfigError(f"{where}: 'active_parameters' is for a mixture of experts "
                          "(\"moe\": true) and cannot exceed 'parameters'")


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate the catalog; raise ConfigError naming what is wrong."""
    path = Path(path) if path is not None else resource_path("catalog.json")
    shown = path.name
    try:
        data = read_json_file(path, max_bytes=MAX_BYTES_CATALOG)
    except JsonFileError as exc:
        if exc.missing:
            raise ConfigError(f"model catalog not found: {path}") from None
        raise ConfigError(f"model catalog {shown} {exc.reason}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ConfigError(f"model catalog {shown} must be an object with a 'models' list")
    if data.get("version", CATALOG_VERSION) != CATALOG_VERSION:
        raise ConfigError(f"model catalog {shown} has version {data.get('version')!r}; "
                          f"this Scalpel reads version {CATALOG_VERSION}")
    entries: list[CatalogEntry] = []
    seen: set[str] = set()
    for index, raw in enumerate(data["models"]):
        label = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
        where = f"{shown}: model #{index}" + (f" ({label})" if label else "")
        entry = _entry_from(raw, where)
        if entry.id in seen:
            raise ConfigError(f"{where}: duplicate id {entry.id!r}")
        seen.add(entry.id)
        entries.append(entry)
    return Catalog(entries)
