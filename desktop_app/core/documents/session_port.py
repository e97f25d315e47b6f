"""Documents as a chat session sees them (core/session/documents.py's DocumentsPort).

Built by ``Services.documents_port(engine)`` for one session: grounding over the chosen
collections with the hybrid search, whose query embedding (when a collection has an
embedding model) runs through the session's engine, in the engine process. The index
is shared with the Documents window and ``scalpel docs``; nothing here leaves the
computer. The index is opened, and numpy imported, only when a chat first uses
documents (a session starts without them; a data folder that cannot be written must
not stop the window from opening).
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Callable, Sequence

from ..errors import ScalpelError


class DocumentsUnavailableError(ScalpelError):
    """The documents index cannot be opened (the sentence says why)."""


class SessionDocuments:
    def __init__(self, open_store: Callable[[], object], *, engine=None,
                 resolve: Callable[[str], object] | None = None, catalog=None,
                 refusal: Callable[[], str | None] = lambda: None) -> None:
        self._open_store = open_store
        self._engine, self._resolve, self._catalog = engine, resolve, catalog
        self._refusal = refusal
        self._search = None
        self._lock = threading.Lock()

    def refusal(self) -> str | None:
        """Why documents may not be used here (the policy turned them off), or None."""
        return self._refusal()

    @property
    def store(self):
        try:
            return self._open_store()
        except (OSError, sqlite3.Error) as exc:
            raise DocumentsUnavailableError(
                f"Your documents' index cannot be opened ({exc}); check that Scalpel's data "
                "folder can be written, then try again.") from exc

    def ground(self, question: str, collections: Sequence[str], *, context_tokens: int,
               count_tokens: Callable[[str], int], answer_tokens: int | None = None):
        from .grounding import ground

        store = self.store
        return ground(question, store=store, collections=list(collections),
                      context_tokens=context_tokens, count_tokens=count_tokens,
                      search=self._searcher(store), answer_tokens=answer_tokens)

    def _searcher(self, store):
        with self._lock:
            if self._search is None:
                from .embedding import catalog_prefixes, registry_resolver
                from .search import DocumentSearch

                self._search = DocumentSearch(
                    store, engine=self._engine,
                    resolve_model=(registry_resolver(self._resolve) if self._resolve
                                   else (lambda model: model)),
                    prefixes=(catalog_prefixes(self._catalog) if self._catalog is not None
                              else (lambda model: ("", ""))))
            return self._search
