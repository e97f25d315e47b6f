"""Search hits: the text around the matched words, with where each match is.

SQLite's FTS5 ``snippet()`` wraps every match in two marker strings of our choosing. They
must not be characters the message itself holds, or a "[" typed in ``arr[0]`` would read
as the start of a match. Scalpel uses STX and ETX (U+0002, U+0003: "start of text", "end
of text"): control characters that nobody types and Markdown never needs, and that the
window would not show anyway. They are not impossible (a pasted binary, a model's stray
byte), so a message that holds either one gets its snippet made again with markers it
does not hold (``markers_absent_from``). A hit is then plain data: the snippet as text
and the matches' spans, which the window escapes and bolds itself.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

HIT_START, HIT_END = "\x02", "\x03"
_SPARE_MARKERS = (range(0xE000, 0xF900), range(0xF0000, 0xFFFFE))  # Private Use Areas


@dataclass(frozen=True)
class SearchHit:
    chat_id: int
    chat_title: str
    message_id: int
    role: str
    snippet: str  # plain text around the matches, "…" where the message was cut
    matches: tuple[tuple[int, int], ...] = ()  # [start, end) of each match in ``snippet``

    def parts(self) -> list[tuple[str, bool]]:
        """The snippet in order as (text, is_a_match) pieces; empty pieces left out."""
        pieces, at = [], 0
        for start, end in self.matches:
            pieces += [(self.snippet[at:start], False), (self.snippet[start:end], True)]
            at = end
        pieces.append((self.snippet[at:], False))
        return [(text, hit) for text, hit in pieces if text]

    def to_dict(self) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "chat_title": self.chat_title,
                "message_id": self.message_id, "role": self.role, "snippet": self.snippet,
                "matches": [list(span) for span in self.matches]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SearchHit":
        return cls(int(data["chat_id"]), str(data["chat_title"]), int(data["message_id"]),
                   str(data["role"]), str(data["snippet"]),
                   tuple((int(start), int(end)) for start, end in data.get("matches", ())))


def split_marked(marked: str, start: str = HIT_START,
                 end: str = HIT_END) -> tuple[str, tuple[tuple[int, int], ...]]:
    """FTS5 snippet text with ``start``/``end`` around matches -> (text, match spans)."""
    text: list[str] = []
    spans: list[tuple[int, int]] = []
    length = 0
    for piece in re.split(f"({re.escape(start)}.*?{re.escape(end)})", marked, flags=re.S):
        if len(piece) >= len(start) + len(end) and piece.startswith(start) \
                and piece.endswith(end):
            piece = piece[len(start):len(piece) - len(end)]
            if piece:
                spans.append((length, length + len(piece)))
        text.append(piece)
        length += len(piece)
    return "".join(text), tuple(spans)


def markers_absent_from(content: str) -> tuple[str, str]:
    """Two marker characters ``content`` does not contain (STX/ETX when it has neither)."""
    if HIT_START not in content and HIT_END not in content:
        return HIT_START, HIT_END
    present = set(content)
    spare = (chr(c) for c in itertools.chain(*_SPARE_MARKERS) if chr(c) not in present)
    start, end = itertools.islice(spare, 2)
    return start, end
