"""Which embedding model a collection uses, as the indexer and search need it.

A collection stores a model *id* (a catalog id, or the id of a file the registry
knows, or a path). The engine wants a GGUF path (``resolve``), and some models want
their text prefixed ("search_query: " for nomic-embed, "query: " for E5): the catalog
entry's ``query_prefix``/``document_prefix`` when it has them (older catalogs: none).
"""

from __future__ import annotations

from typing import Any, Callable


def catalog_prefixes(catalog: Any) -> Callable[[str], tuple[str, str]]:
    """model id -> (query prefix, document prefix), from the catalog ("" when unknown)."""
    def prefixes(model: str) -> tuple[str, str]:
        entry = catalog.get(model) if catalog is not None else None
        return (str(getattr(entry, "query_prefix", "") or ""),
                str(getattr(entry, "document_prefix", "") or ""))
    return prefixes


def registry_resolver(resolve: Callable[[str], Any]) -> Callable[[str], str]:
    """model id -> GGUF path through ``resolve`` (ModelRegistry/ModelListing.resolve, which
    raises ModelNotFoundError with a sentence for an id that names nothing)."""
    def to_path(model: str) -> str:
        return str(resolve(model).path)
    return to_path
