"""Whole-document requests on documents too big for the context: parts, then combined.

"Summarize the manual" answered from three retrieved snippets is the complaint this
answers. The documents are cut into parts that each fit the model's context (pieces
kept whole, in order, each labelled with its marker and source); the model answers the
request for each part ("map"), then the partial answers are combined ("reduce"),
in more than one round when they do not fit one prompt together. Plain data: the
chat session runs the prompts and shows the progress (part i of n).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .sources import Document, Source, pieces

MAP_INSTRUCTION = (
    "Below is part {index} of {total} of the person's documents, as numbered passages. "
    "Do the request for this part only: write down everything in it that serves the "
    "request, briefly, keeping the passage markers like [3] after what they support. "
    "If nothing in this part serves it, answer only: nothing relevant.\n\n"
    "Request: {question}\n\n{passages}")
COMBINE_INSTRUCTION = (
    "These are notes made from each part of the person's documents, in order, for the "
    "request below. Combine them into one answer to the request, covering every part, "
    "without repeating yourself, keeping the markers like [3] after what they support. "
    "Leave out parts that found nothing relevant.\n\nRequest: {question}\n\n{notes}")


@dataclass(frozen=True)
class MapPart:
    index: int                     # 1-based
    prompt: str
    sources: tuple[Source, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "prompt": self.prompt,
                "sources": [s.to_dict() for s in self.sources]}


@dataclass(frozen=True)
class MapReducePlan:
    question: str
    parts: tuple[MapPart, ...]
    budget_tokens: int             # what one prompt may take

    @property
    def sources(self) -> tuple[Source, ...]:
        return tuple(s for part in self.parts for s in part.sources)

    def combine_prompts(self, partials: Sequence[str],
                        count_tokens: Callable[[str], int]) -> list[str]:
        """Prompts that combine ``partials`` (the parts' answers, in order): one when they
        fit together, else several, whose answers are combined again the same way."""
        groups: list[list[str]] = [[]]
        for index, text in enumerate(partials, start=1):
            note = f"Notes on part {index}:\n{text.strip()}"
            trial = groups[-1] + [note]
            if groups[-1] and count_tokens(self._combine(trial)) > self.budget_tokens:
                groups.append([note])
            else:
                groups[-1] = trial
        return [self._combine(group) for group in groups if group]

    def _combine(self, notes: list[str]) -> str:
        return COMBINE_INSTRUCTION.format(question=self.question, notes="\n\n".join(notes))

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "budget_tokens": self.budget_tokens,
                "parts": [p.to_dict() for p in self.parts]}


def plan_map_reduce(question: str, docs: Sequence[Document], *, budget_tokens: int,
                    count_tokens: Callable[[str], int]) -> MapReducePlan:
    """Parts of ``docs`` whose prompts each fit ``budget_tokens``. A passage is numbered
    once per file and page (or heading), so markers stay the same across parts."""
    markers: dict[tuple, Source] = {}
    labelled: list[tuple[Source, str]] = []
    for doc in docs:
        for piece in pieces(doc):
            key = (doc.file, piece.page, piece.heading)
            if key not in markers:
                markers[key] = Source(len(markers) + 1, doc.file, piece.page, piece.heading,
                                      piece.line_start, piece.line_end, piece.text[:300])
            labelled.append((markers[key], piece.text))
    overhead = count_tokens(MAP_INSTRUCTION.format(index=99, total=99, question=question,
                                                   passages=""))
    room = max(64, budget_tokens - overhead)
    groups: list[list[tuple[Source, str]]] = [[]]
    used = 0
    for source, text in labelled:
        block = _block(source, text)
        cost = count_tokens(block)
        if cost > room:  # one piece alone is too big (a tiny context): cut it
            for part in _split(text, max(1, len(text) * room // cost)):
                labelled_part = _block(source, part)
                groups, used = _add(groups, used, (source, part), count_tokens(labelled_part),
                                    room)
            continue
        groups, used = _add(groups, used, (source, text), cost, room)
    groups = [g for g in groups if g]
    parts = []
    for index, group in enumerate(groups, start=1):
        passages = "\n\n".join(_block(s, t) for s, t in group)
        sources = tuple(dict.fromkeys(s for s, _ in group))
        parts.append(MapPart(index, MAP_INSTRUCTION.format(
            index=index, total=len(groups), question=question, passages=passages), sources))
    return MapReducePlan(question, tuple(parts), budget_tokens)


def _block(source: Source, text: str) -> str:
    return f"[{source.marker}] {source.label}:\n{text.strip()}"


def _add(groups, used, item, cost, room):
    if groups[-1] and used + cost > room:
        groups.append([])
        used = 0
    groups[-1].append(item)
    return groups, used + cost + 1


def _split(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]
