"""Step 2, similarity to the presets' example requests.

The step compares a message with every candidate's examples through an ``Embedder``
(texts -> vectors) and scores a preset by its closest examples. An embedding model
(``Engine.embed`` in the engine process, with the ``embedding_model`` setting) is the
embedder when one is installed (``EngineEmbedder``, wired by core/session/auto.py);
without one, ``LexicalEmbedder``: TF-IDF over words and word beginnings, fitted on the
examples, in pure Python. It is a lexical fallback, not an embedding model: it matches
shared words, not meaning. A preset that works on a pasted text (it claims the
``long_text`` signal) is left out for a message that carries none.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Mapping, Protocol, Sequence, Union

from .decision import Proposal, RouteCandidate, clamp, words
from .signals import has_pasted_text

Vector = Union[Mapping[str, float], Sequence[float]]  # sparse (lexical) or dense (a model)
PREFIX = 5          # word beginnings of this many letters ("translat" ~ "translation")
TOP_K = 2           # a preset's score: the mean of its TOP_K closest examples
# Words too common to say anything about the task (English and a few neighbours).
STOP_WORDS = frozenset("""
a an the and or but if of to in on at by for with from into about as is are was were be been
am do does did i me my we our you your it its this that these those there here what which who
how why when where can could would should will shall may might must please some any all
so than then too very just also not no yes up out over one two he she they them his her their
der die das und ist ein eine ich du es le la les un une et est je tu el los las y es yo
il lo di che e non de het een en ik
""".split())


class Embedder(Protocol):
    """Turns texts into unit-length vectors; similar requests get a high dot product."""

    name: str

    def embed(self, texts: Sequence[str]) -> list[Vector]: ...


def cosine(a: Vector, b: Vector) -> float:
    """Dot product of two unit vectors, sparse (dicts) or dense (sequences)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        small, large = (a, b) if len(a) <= len(b) else (b, a)
        return sum(value * large.get(key, 0.0) for key, value in small.items())
    return sum(x * y for x, y in zip(a, b))  # type: ignore[arg-type]


def features(text: str) -> list[str]:
    """Words, plus their first ``PREFIX`` letters for words longer than that."""
    out: list[str] = []
    for word in words(text):
        if word in STOP_WORDS:
            continue
        out.append(word)
        if len(word) > PREFIX + 1:
            out.append(word[:PREFIX] + "…")
    return out


class LexicalEmbedder:
    """TF-IDF vectors (sublinear counts, smoothed IDF from the fitted texts, unit length).
    The lexical fallback used while no embedding model is available."""

    name = "tf-idf over the examples' words (lexical fallback, no embedding model)"

    def __init__(self, corpus: Sequence[str]) -> None:
        documents = [set(features(text)) for text in corpus]
        frequency = Counter(term for doc in documents for term in doc)
        n = len(documents)
        self._idf = {t: math.log((1 + n) / (1 + df)) + 1.0 for t, df in frequency.items()}
        self._unseen = math.log(1 + n) + 1.0

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        return [self._vector(text) for text in texts]

    def _vector(self, text: str) -> dict[str, float]:
        counts = Counter(features(text))
        # A word the examples never use says nothing about which preset fits: it is
        # left out rather than given the highest weight.
        vector = {t: (1 + math.log(c)) * self._idf[t] for t, c in counts.items() if t in self._idf}
        norm = math.sqrt(sum(v * v for v in vector.values()))
        return {t: v / norm for t, v in vector.items()} if norm else {}


class EngineEmbedder:
    """An embedding model through ``Engine.embed`` (llama.cpp in the engine process): the
    examples step's embedder when one is installed. ``decide_at`` is higher than the
    lexical one's, since dense vectors of unrelated texts still have a sizeable cosine."""

    decide_at = 0.5

    def __init__(self, engine, model: str, *, name: str, query_prefix: str = "",
                 document_prefix: str = "") -> None:
        self._engine, self._model = engine, model
        self.name = f"the embedding model {name}"
        self._query, self._document = query_prefix, document_prefix
        self._documents = True   # the first call embeds the examples

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        prefix = self._document if self._documents else self._query
        self._documents = False
        return self._engine.embed([prefix + t for t in texts], model=self._model)


class ExampleStep:
    name = "examples"

    def __init__(self, candidates: list[RouteCandidate], *, embedder: Embedder | None = None,
                 decide_at: float = 0.25, margin: float = 0.03) -> None:
        self.candidates = [c for c in candidates if c.routing.examples]
        texts = [e for c in self.candidates for e in c.routing.examples]
        self.embedder = embedder or LexicalEmbedder(texts)
        vectors = self.embedder.embed(texts)
        self._examples: list[tuple[str, str, Vector]] = []
        position = 0
        for c in self.candidates:
            for example in c.routing.examples:
                self._examples.append((c.preset_id, example, vectors[position]))
                position += 1
        self._works_on_text = {c.preset_id for c in self.candidates
                               if "long_text" in c.routing.signals}
        self.decide_at = getattr(self.embedder, "decide_at", decide_at)
        self.margin = margin

    def scores(self, text: str) -> dict[str, tuple[float, str]]:
        """Each candidate's score (mean of its closest examples) and its closest example."""
        vector = self.embedder.embed([text])[0]
        per_preset: dict[str, list[tuple[float, str]]] = {}
        for preset_id, example, example_vector in self._examples:
            per_preset.setdefault(preset_id, []).append((cosine(vector, example_vector), example))
        result = {}
        for preset_id, sims in per_preset.items():
            sims.sort(reverse=True)
            top = sims[:TOP_K]
            result[preset_id] = (sum(s for s, _ in top) / len(top), top[0][1])
        return result

    def propose(self, text: str) -> tuple[Proposal | None, bool]:
        scores = self.scores(text)
        if not has_pasted_text(text):
            # A preset that works on a pasted text (it claims ``long_text``: Summarize)
            # has nothing to work on in a short message; a word shared with one of its
            # examples ("How long do I boil pasta?") is no reason to choose it. Its
            # hints ("summarize the attached report") still count in the signals step.
            for preset_id in self._works_on_text:
                scores.pop(preset_id, None)
        ranked = sorted(scores.items(), key=lambda item: item[1][0], reverse=True)
        if not ranked or ranked[0][1][0] <= 0.0:
            return None, False
        best_id, (best, example) = ranked[0]
        second = ranked[1][1][0] if len(ranked) > 1 else 0.0
        confidence = clamp(best * 0.8 + (best - second) * 2)
        reason = f"like the example “{_short(example)}”"
        return (Proposal(best_id, round(confidence, 3), reason),
                best >= self.decide_at and best - second >= self.margin)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"
