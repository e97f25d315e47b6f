"""What to put in front of the model so an answer rests on the person's documents.

Three ways, chosen per question:

- **whole**: every document of the chosen collections fits the context (with room
  left for the answer): they are given whole, numbered [1], [2]... by file. A model
  that sees the whole contract answers better than one that sees three snippets.
- **map_reduce**: they do not fit, and the question asks for the whole ("summarize",
  "list every ...", ``needs_whole``): a plan of parts that each fit, then a combine
  prompt (map_reduce.py).
- **passages**: otherwise, the best passages of the hybrid search, as many as fit,
  numbered with their sources. **none**: no passage matched at all.

Every mode carries the instruction to cite the markers and to say so when the
documents do not support an answer, rather than inventing one. Plain data in and
out: the chat session decides where the text goes and runs the prompts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .index_store import IndexStore
from .map_reduce import MapReducePlan, plan_map_reduce
from .search import DocumentSearch
from .sources import Document, Source, documents, pieces

CITE = ("Cite what you use with its marker, like [1] or [2][3], right after the statement "
        "it supports. If the documents do not contain the answer, say plainly that they do "
        "not say, and do not make one up.")
WHOLE = "Answer from the person's documents, given whole below. " + CITE
PASSAGES = "Answer from these passages of the person's documents. " + CITE
NONE = ("The person asked about their documents, but no passage of them matches the "
        "question. Say that the documents do not seem to cover it; do not invent an "
        "answer from them.")

_WHOLE_REQUEST = re.compile(
    r"\b(summari[sz]e|summari[sz]ing|summary|summaries|overview|outline|tl;?dr|"
    r"(list|name|enumerate|find|give|show)\b[^.?!]{0,30}\b(all|every|each)|"
    r"(all|every|each)\s+(of\s+the\s+)?(the\s+)?\w+\s+(in|of|from|across)\s+(the|this|these|my)|"
    r"(the\s+)?(whole|entire|complete|full)\s+(document|file|text|manual|book|report|"
    r"contract|collection|folder)|main\s+points|key\s+points|key\s+takeaways)\b",
    re.IGNORECASE)


def needs_whole(question: str) -> bool:
    """True for requests only the whole can answer: summarize, list every ..., the main
    points of the whole document (a lookup question is answered from passages)."""
    return bool(_WHOLE_REQUEST.search(question))


@dataclass(frozen=True)
class Grounding:
    mode: str                          # whole, passages, map_reduce, none
    context: str                       # the text before the question (system message)
    sources: tuple[Source, ...]
    plan: MapReducePlan | None = None  # map_reduce only

    def messages(self, question: str) -> list[dict[str, str]]:
        """Chat messages for a one-shot answer (whole, passages, none)."""
        return [{"role": "system", "content": self.context},
                {"role": "user", "content": question}]

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "context": self.context,
                "sources": [s.to_dict() for s in self.sources],
                "plan": self.plan.to_dict() if self.plan else None}


def ground(question: str, *, store: IndexStore, collections: Sequence[str] | None,
           context_tokens: int, count_tokens: Callable[[str], int],
           search: DocumentSearch | None = None, answer_tokens: int | None = None,
           max_passages: int = 8) -> Grounding:
    """The grounding for ``question`` over ``collections`` (None: all) for a model with
    ``context_tokens`` of context; ``answer_tokens`` (default a quarter, at least 256)
    is left for the answer, and the question's own tokens are taken off too."""
    reserve = answer_tokens if answer_tokens is not None else max(256, context_tokens // 4)
    budget = context_tokens - reserve - count_tokens(question) - 16  # chat template's marks
    small = store.text_chars(collections) <= budget * 12  # else surely too big whole
    docs = documents(store, collections) if small or needs_whole(question) else []
    whole = _whole(docs, budget, count_tokens) if small else None
    if whole is not None:
        return whole
    if docs and needs_whole(question):
        plan = plan_map_reduce(question, docs, budget_tokens=budget, count_tokens=count_tokens)
        return Grounding("map_reduce", WHOLE, plan.sources, plan)
    search = search or DocumentSearch(store)
    hits = search.search(question, collections=collections, limit=max_passages)
    sources: list[Source] = []
    blocks: list[str] = []
    used = count_tokens(PASSAGES)
    for hit in hits:
        source = Source(len(sources) + 1, hit.file, hit.page, hit.heading, hit.line_start,
                        hit.line_end, hit.passage)
        block = f"[{source.marker}] {source.label}:\n{hit.passage.strip()}"
        cost = count_tokens(block) + 2
        if used + cost > budget:
            if sources:
                break
            continue  # this one is too big for a small context; a later one may fit
        sources.append(source)
        blocks.append(block)
        used += cost
    if not sources:
        return Grounding("none", NONE, ())
    return Grounding("passages", PASSAGES + "\n\n" + "\n\n".join(blocks), tuple(sources))


def _whole(docs: list[Document], budget: int, count_tokens: Callable[[str], int]
           ) -> Grounding | None:
    """Every document whole, if together they fit ``budget`` tokens: in order, one marker
    per page (PDF) or section (heading), so an answer can cite the page it used."""
    if not docs:
        return None
    sources, blocks = [], []
    for doc in docs:
        for first, last, text in _sections(doc):
            source = Source(len(sources) + 1, doc.file, first.page, first.heading,
                            first.line_start, last.line_end, text[:300])
            sources.append(source)
            blocks.append(f"[{source.marker}] {source.label}:\n{text.strip()}")
    context = WHOLE + "\n\n" + "\n\n".join(blocks)
    if count_tokens(context) > budget:
        return None
    return Grounding("whole", context, tuple(sources))


def _sections(doc: Document):
    """(first piece, last piece, text) for each run of pieces on one page or heading."""
    runs: list[list] = []
    for piece in pieces(doc):
        if runs and (runs[-1][0].page, runs[-1][0].heading) == (piece.page, piece.heading):
            runs[-1].append(piece)
        else:
            runs.append([piece])
    return [(run[0], run[-1], "".join(p.text for p in run)) for run in runs]
