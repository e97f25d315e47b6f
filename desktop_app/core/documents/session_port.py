"""Documents as a chat session sees them (core/session/documents.py's DocumentsPort).

Built by ``Services.documents_port(engine)`` for one session: grounding over the chosen
collections with the hybrid search, whose query embedding (when a collection has an
embedding model) runs through the session's engine, in the engine process. The index
is shared with the Documents window and ``scalpel docs``; nothing here leaves the
computer.
"""

from __future__ import annotations

from typing import Callable, Sequence

from .embedding import catalog_prefixes, registry_resolver
from .grounding import Grounding, ground
from .index_store import IndexStore
from .search import DocumentSearch


class SessionDocuments:
    def __init__(self, store: IndexStore, *, engine=None,
                 resolve: Callable[[str], object] | None = None, catalog=None,
                 refusal: Callable[[], str | None] = lambda: None) -> None:
        self.store = store
        self._search = DocumentSearch(
            store, engine=engine,
            resolve_model=registry_resolver(resolve) if resolve else (lambda model: model),
            prefixes=catalog_prefixes(catalog) if catalog is not None else (lambda m: ("", "")))
        self._refusal = refusal

    def refusal(self) -> str | None:
        """Why documents may not be used here (the policy turned them off), or None."""
        return self._refusal()

    def known(self) -> list[str]:
        return [info.name for info in self.store.collections()]

    def ground(self, question: str, collections: Sequence[str], *, context_tokens: int,
               count_tokens: Callable[[str], int], answer_tokens: int | None = None
               ) -> Grounding:
        return ground(question, store=self.store, collections=list(collections),
                      context_tokens=context_tokens, count_tokens=count_tokens,
                      search=self._search, answer_tokens=answer_tokens)
