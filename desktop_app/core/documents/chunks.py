"""Sections cut into passages for search and for the model: ~800 characters, whole lines
where possible, each overlapping the one before by up to ~120 characters so a sentence
cut at a boundary is whole in one of them.

A chunk keeps what a citation needs (page or heading, line range) and where it sits in
its section (``section``, ``start``), so a whole document can be put back together from
its chunks exactly, overlaps removed (``join_chunks``), without reading the file again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable

from .readers import Section

TARGET_CHARS = 800
MAX_CHARS = 1000
OVERLAP_CHARS = 120


@dataclass(frozen=True)
class Chunk:
    ordinal: int           # order in the file
    text: str
    page: int | None
    heading: str | None
    line_start: int        # 1-based, inclusive
    line_end: int
    section: int           # which section of the file
    start: int             # character offset of ``text`` in its section

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Chunk":
        return cls(**{key: data[key] for key in cls.__dataclass_fields__})


def _pieces(text: str, max_chars: int) -> list[tuple[int, int, int]]:
    """(start, end, line index) of each line, long lines cut at whitespace."""
    pieces, offset = [], 0
    for line_index, line in enumerate(text.split("\n")):
        end_of_line = offset + len(line)
        start = offset
        while end_of_line - start > max_chars:
            cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
            cut = cut + 1 if cut > start else start + max_chars
            pieces.append((start, cut, line_index))
            start = cut
        pieces.append((start, min(end_of_line + 1, len(text)), line_index))
        offset = end_of_line + 1
    return pieces


def chunk_sections(sections: Iterable[Section], *, target: int = TARGET_CHARS,
                   max_chars: int = MAX_CHARS, overlap: int = OVERLAP_CHARS) -> list[Chunk]:
    chunks: list[Chunk] = []
    for section_index, section in enumerate(sections):
        text = section.text
        pieces = _pieces(text, max_chars)
        first = 0
        while first < len(pieces):
            last = first
            while (last + 1 < len(pieces)
                   and pieces[last + 1][1] - pieces[first][0] <= max_chars
                   and pieces[last][1] - pieces[first][0] < target):
                last += 1
            start, end = pieces[first][0], pieces[last][1]
            body = text[start:end]
            if body.strip():
                chunks.append(Chunk(ordinal=len(chunks), text=body, page=section.page,
                                    heading=section.heading,
                                    line_start=section.first_line + pieces[first][2],
                                    line_end=section.first_line + pieces[last][2],
                                    section=section_index, start=start))
            if last + 1 >= len(pieces):
                break
            following = last + 1
            back = following
            while back - 1 > first and end - pieces[back - 1][0] <= overlap:
                back -= 1
            first = back
    return chunks


def join_chunks(chunks: Iterable[Chunk]) -> str:
    """The text of the sections the chunks came from, overlaps removed (sections are
    separated by a blank line; blank stretches no chunk holds become one line break)."""
    texts: dict[int, tuple[int, str]] = {}  # section -> (offset of its text, text)
    for chunk in sorted(chunks, key=lambda c: (c.section, c.start)):
        base, text = texts.get(chunk.section, (chunk.start, ""))
        relative = chunk.start - base
        text = text[:relative] if relative <= len(text) else text + "\n"
        texts[chunk.section] = (base, text + chunk.text)
    return "\n\n".join(texts[key][1].strip("\n") for key in sorted(texts))
