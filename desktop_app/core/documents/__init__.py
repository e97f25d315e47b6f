"""Your own documents: read, chunk, index (SQLite: FTS5 and vectors), search, ground.

Qt-free. The window and the chat session use these through plain data: the indexer
on its worker (background.py), search (search.py) and grounding (grounding.py).
"""

from .allowed import DocumentsNotAllowedError, check_path, documents_refusal, path_refusal
from .background import BackgroundIndexer, FolderWatcher
from .control import IndexControl
from .grounding import Grounding, ground, needs_whole
from .index_store import CollectionInfo, FileRow, IndexStore, index_file
from .indexer import Indexer, IndexReport
from .map_reduce import MapReducePlan
from .problems import DocumentProblem, DocumentProblemError
from .progress import IndexProgress
from .search import DocumentSearch, SearchHit
from .sources import Source

__all__ = ["BackgroundIndexer", "CollectionInfo", "DocumentProblem", "DocumentProblemError",
           "DocumentSearch", "DocumentsNotAllowedError", "FileRow", "FolderWatcher",
           "Grounding", "IndexControl", "IndexProgress", "IndexReport", "IndexStore",
           "Indexer", "MapReducePlan", "SearchHit", "Source", "check_path",
           "documents_refusal", "ground", "index_file", "needs_whole", "path_refusal"]
