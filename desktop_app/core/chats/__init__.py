"""The chat store: chats and messages kept safely in SQLite (see ``store``)."""

from .store import ChatStore, ChatStoreError, ChatSummary, SearchHit, StoredMessage

__all__ = ["ChatStore", "ChatStoreError", "ChatSummary", "SearchHit", "StoredMessage"]
