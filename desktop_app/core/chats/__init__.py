"""The chat store: chats and messages kept safely in SQLite (see ``store``)."""

from .failures import (ChatStoreDamagedError, ChatStoreFullError, ChatStoreLockedError,
                       ChatStoreNewerError, ChatStoreReadOnlyError)
from .store import (UNNAMED_MODEL, ChatStore, ChatStoreError, ChatSummary, SearchHit,
                    StoredMessage)

__all__ = ["ChatStore", "ChatStoreDamagedError", "ChatStoreError", "ChatStoreFullError",
           "ChatStoreLockedError", "ChatStoreNewerError", "ChatStoreReadOnlyError",
           "ChatSummary", "SearchHit", "StoredMessage", "UNNAMED_MODEL"]
