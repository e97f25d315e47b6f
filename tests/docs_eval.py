"""The documents evaluation set: Python's own language-reference topics written out as a
folder of text files, and the questions of ``tests/data/docs_eval.jsonl``, each naming the
passage that answers it.

Why these documents: they ship with every Python (``pydoc_data/topics.py``, the text
``help("if")`` shows), so the collection is real prose, available offline, and writing it
out is deterministic for a given Python version (79 topics, 466,000 characters on 3.11).
A passage answers a question when it holds the question's ``evidence`` phrase (spaces
normalized). The phrase, not the file, decides, because the reference repeats some text
in several topics (``compound`` holds ``while``, ``if`` and ``try``; ``specialnames``
holds ``customization``): the same words found in either file answer the question.
``file`` names the topic the question was written from.

Used by tests/test_doc_retrieval.py (BM25 alone, a floor) and
benchmarks/bench_doc_retrieval.py (BM25, vectors and hybrid).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

EVAL_PATH = Path(__file__).resolve().parent / "data" / "docs_eval.jsonl"
COLLECTION = "python-docs"
DEPTH = 10  # hits looked at per question: MRR is MRR@10
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    file: str       # the topic it was written from, e.g. "while.txt"
    evidence: str   # words of the answering passage, spaces normalized

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EvalQuestion":
        return cls(**{key: data[key] for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class RetrievalScores:
    questions: int
    hit_at_1: float
    hit_at_5: float
    mrr: float          # mean reciprocal rank of the first answering passage, over DEPTH hits

    @classmethod
    def from_ranks(cls, ranks: Sequence[int | None]) -> "RetrievalScores":
        n = len(ranks)
        if not n:
            raise ValueError("no questions to score")
        return cls(questions=n,
                   hit_at_1=sum(1 for r in ranks if r == 1) / n,
                   hit_at_5=sum(1 for r in ranks if r is not None and r <= 5) / n,
                   mrr=sum(1 / r for r in ranks if r is not None) / n)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalized(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def load_questions(path: Path = EVAL_PATH) -> list[EvalQuestion]:
    with open(path, encoding="utf-8") as lines:
        return [EvalQuestion.from_dict(json.loads(line)) for line in lines if line.strip()]


def write_topics(folder: Path) -> list[Path]:
    """Every pydoc topic as ``<topic>.txt`` in ``folder`` (created), sorted by name."""
    from pydoc_data.topics import topics

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in sorted(topics):
        path = folder / f"{name}.txt"
        path.write_text(topics[name], encoding="utf-8")
        written.append(path)
    return written


def missing_evidence(questions: Sequence[EvalQuestion]) -> list[str]:
    """Ids of questions whose evidence is nowhere in this Python's topics (a Python whose
    reference was reworded): the set needs updating, not the search."""
    from pydoc_data.topics import topics

    corpus = [normalized(text) for text in topics.values()]
    return [q.id for q in questions if not any(q.evidence in text for text in corpus)]


def first_answer_rank(question: EvalQuestion, passages: Sequence[str]) -> int | None:
    """1-based place of the first passage holding the evidence, None when none does."""
    for rank, passage in enumerate(passages[:DEPTH], start=1):
        if question.evidence in normalized(passage):
            return rank
    return None


def evaluate(questions: Sequence[EvalQuestion],
             ranked_passages: Callable[[str], Sequence[str]]) -> tuple[RetrievalScores, list]:
    """Scores of one retriever (``question text -> passages best first``) and the rank
    per question (None: not in the first DEPTH)."""
    ranks = [first_answer_rank(q, ranked_passages(q.question)) for q in questions]
    return RetrievalScores.from_ranks(ranks), ranks
