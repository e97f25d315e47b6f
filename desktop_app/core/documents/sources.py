"""A numbered source of a grounded answer, and the documents a collection holds.

``Source`` is what the window shows under an answer for a marker [n]: file, page or
heading, lines, passage. ``documents`` rebuilds each indexed file's text from its
chunks (overlaps removed, chunks.join_chunks), with no need to read the file again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

from .chunks import Chunk, join_chunks
from .index_store import IndexStore


@dataclass(frozen=True)
class Source:
    marker: int                    # the [n] in the answer
    file: str
    page: int | None = None
    heading: str | None = None
    line_start: int | None = None
    line_end: int | None = None
    passage: str = ""

    @property
    def label(self) -> str:
        name = self.file.replace("\\", "/").rsplit("/", 1)[-1]
        if self.page is not None:
            return f"{name}, page {self.page}"
        if self.heading:
            return f"{name}, {self.heading}"
        if self.line_start is not None:
            return f"{name}, lines {self.line_start}-{self.line_end}"
        return name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Source":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class Document:
    file: str
    chunks: tuple[Chunk, ...]

    @property
    def text(self) -> str:
        return join_chunks(self.chunks)

    @property
    def size(self) -> int:
        """An upper bound of the text's length (chunks overlap), without joining."""
        return sum(len(c.text) for c in self.chunks)


def documents(store: IndexStore, collections: Sequence[str] | None) -> list[Document]:
    """Every indexed file of the collections, in path order, with its chunks."""
    out = []
    for info in store.collections():
        if collections is not None and info.name not in collections:
            continue
        for path, row in sorted(store.files(info.id).items()):
            if row.status == "indexed" and row.chunks:
                out.append(Document(path, tuple(store.file_chunks(row.id))))
    return out


def pieces(document: Document) -> list[Chunk]:
    """The document's chunks with each overlap cut off the later chunk, so the pieces
    join to the whole text and each still knows its page or heading."""
    out, reached = [], {}  # section -> end offset covered so far
    for chunk in sorted(document.chunks, key=lambda c: (c.section, c.start)):
        covered = reached.get(chunk.section, chunk.start)
        skip = max(0, covered - chunk.start)
        if skip < len(chunk.text):
            text = chunk.text[skip:]
            out.append(Chunk(chunk.ordinal, text, chunk.page, chunk.heading,
                             chunk.line_start + chunk.text[:skip].count("\n"), chunk.line_end,
                             chunk.section, chunk.start + skip))
        reached[chunk.section] = max(covered, chunk.start + len(chunk.text))
    return out
