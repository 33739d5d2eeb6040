"""Ranking passages for a question: dense similarity fused with BM25, deterministic, explained by a
score that a threshold can use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import bm25s
import faiss
import numpy as np
import Stemmer
from numpy.typing import NDArray

from bot.embedding import Embedder, Vectors
from bot.highlights import Span, answering
from bot.index import LoadedIndex
from bot.knowledge import Passage
from bot.query import STOP_WORDS, Query, QueryReader
from bot.scope import ScopeSignals, Vocabulary

# The final score is DENSE_WEIGHT * cosine + LEXICAL_WEIGHT * bm25 / (bm25 + LEXICAL_HALF):
# both parts are absolute, so the score means the same thing from one question to the next.
DENSE_WEIGHT = 0.9
LEXICAL_WEIGHT = 0.1
LEXICAL_HALF = 2.0
# The dense cosine weighs a passage's text, its best alternate question and the mean of its
# FEW_ALTERNATES best alternates: measured on the team's questions and on real clinics' FAQ questions.
DENSE_PARTS = (1.0, 0.5, 1.0)
FEW_ALTERNATES = 3
# How many nearest vectors to read per question; enough for every vector of a small index, and for
# the passages that matter in a large one.
NEAREST_VECTORS = 4096
_STEMMER = Stemmer.Stemmer("english")


@dataclass(frozen=True)
class Result:
    """One ranked passage. ``score`` ranks; ``dense`` and ``lexical`` show where it came from."""

    passage: Passage
    score: float
    dense: float
    lexical: float
    highlights: tuple[Span, ...] = ()  # the sentences closest to the question, as (start, end) in the text


def _lexical_text(passage: Passage) -> str:
    return " ".join([passage.section, *passage.headings, passage.text, *passage.questions])


def _tokenize(texts: list[str]) -> list[list[str]]:
    tokens = bm25s.tokenize(texts, stopwords=list(STOP_WORDS), stemmer=_STEMMER, return_ids=False, show_progress=False)
    return [list(t) for t in tokens]


@dataclass(frozen=True)
class Scope:
    """How close a question comes to what the knowledge answers, and to what it does not."""

    known: float  # best cosine to a passage's text or one of its alternate questions
    unknown: float  # best cosine to an out-of-scope example question
    example: str | None  # that example
    topic: str | None  # and its topic


def exact_matrix(index: faiss.Index) -> NDArray[np.float32] | None:
    """The vectors of an exact (flat) index as a matrix, to score them all in one product; None for a
    graph index. Asking FAISS for every neighbour of a question kept a heap of thousands of them:
    2.2 ms a question at 10,000 vectors, where the product takes 0.16 ms and gives the same scores."""
    if not isinstance(index, faiss.IndexFlat):
        return None
    matrix: NDArray[np.float32] = index.reconstruct_n(0, index.ntotal)
    return matrix


def _alternates(
    owners: NDArray[np.int64], similarities: NDArray[np.float32], count: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per passage: the best alternate question's cosine, and the mean of its ``FEW_ALTERNATES`` best
    (NaN where a passage has none)."""
    order = np.lexsort((-similarities, owners))  # by passage, best first within each
    owners, similarities = owners[order], similarities[order]
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]]) if len(owners) else np.zeros(0, np.int64)
    rank = np.arange(len(owners)) - np.repeat(starts, np.diff(np.r_[starts, len(owners)]))
    few = rank < FEW_ALTERNATES
    sums = np.bincount(owners[few], weights=similarities[few], minlength=count)
    counts = np.bincount(owners[few], minlength=count)
    best = np.full(count, np.nan)
    best[owners[starts]] = similarities[starts]
    with np.errstate(invalid="ignore", divide="ignore"):
        return best, np.where(counts > 0, sums / counts, np.nan)


def best_first(scores: NDArray[np.floating[Any]], k: int) -> NDArray[np.int64]:
    """The rows of the ``k`` best scores, best first; equal scores keep their order.

    Only the scores that can be in the top ``k`` are sorted (all of them at the k-th score, so ties are
    kept whole): sorting all 10,000 passages' scores took 0.6 ms of a question's time.
    """
    if k < len(scores):
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        rows = np.flatnonzero(scores >= kth)
    else:
        rows = np.arange(len(scores))
    order: NDArray[np.int64] = rows[np.lexsort((rows, -scores[rows]))][:k]
    return order


class Retriever:
    """Searches one loaded index. Built once per index; cheap to call from many threads."""

    def __init__(self, index: LoadedIndex, embedder: Embedder, reader: QueryReader) -> None:
        self.index = index
        self.embedder = embedder
        self.reader = reader
        owners = index.owners
        # Row 0 of each passage's vectors is its text; the rows after it are its alternate questions.
        self._is_text = np.r_[True, owners[1:] != owners[:-1]] if len(owners) else np.zeros(0, dtype=bool)
        self._bm25 = bm25s.BM25()
        self._bm25.index(_tokenize([_lexical_text(p) for p in index.passages]), show_progress=False)
        self._matrix = exact_matrix(index.vectors)
        self._every_row = np.arange(index.vectors.ntotal)
        self.vocabulary = Vocabulary(index.passages, index.synonyms, reader)
        self._row = {p.id: row for row, p in enumerate(index.passages)}
        self._sentences = [np.flatnonzero(index.sentence_owners == row) for row in range(len(index.passages))]

    @property
    def version(self) -> str:
        return self.index.version

    def read(self, text: str) -> Query:
        return self.reader.read(text)

    def embed(self, query: Query) -> Vectors:
        return self.embedder.embed([query.expanded])

    def _nearest(self, vector: Vectors, depth: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Similarities and rows: of every vector for an exact index, of the ``depth`` nearest for a graph."""
        if self._matrix is not None:
            return self._matrix @ vector.reshape(-1), self._every_row
        similarities, rows = self.index.vectors.search(vector.reshape(1, -1), min(self.index.vectors.ntotal, depth))
        found = rows[0] >= 0
        return similarities[0][found], rows[0][found]

    def dense_scores(self, vector: Vectors) -> NDArray[np.float32]:
        """Each passage's cosine to the question, from its own vectors: its text, its best alternate
        question, and the mean of its best few alternates (``DENSE_PARTS`` weighs them).

        The best alternate alone rewards a question worded like one an editor wrote; visitors word
        things their own way, and the text and the alternates' general drift carry that over better.
        """
        count = len(self.index.passages)
        text = np.full(count, -1.0, dtype=np.float32)
        if self.index.vectors.ntotal == 0:
            return text
        similarities, rows = self._nearest(vector, NEAREST_VECTORS)
        owners, is_text = self.index.owners[rows], self._is_text[rows]
        np.maximum.at(text, owners[is_text], similarities[is_text])
        best, few = _alternates(owners[~is_text], similarities[~is_text], count)
        best, few = np.maximum(np.nan_to_num(best, nan=-1.0), text), np.where(np.isnan(few), text, few)
        text_weight, best_weight, few_weight = DENSE_PARTS
        dense = (text_weight * text + best_weight * best + few_weight * few) / sum(DENSE_PARTS)
        return dense.astype(np.float32)

    def scope(self, vector: Vectors) -> Scope:
        query = vector.reshape(1, -1)
        known = -1.0
        if self.index.vectors.ntotal:
            known = float(np.max(self._nearest(vector, 1)[0]))
        if not self.index.out_of_scope_vectors.ntotal:
            return Scope(known, -1.0, None, None)
        similarity, row = self.index.out_of_scope_vectors.search(query, 1)
        nearest = self.index.out_of_scope[int(row[0][0])]
        return Scope(known, float(similarity[0][0]), nearest.question, nearest.topic)

    def signals(self, query: Query, ranking: list[Result], scope: Scope) -> ScopeSignals:
        """What the scope model reads about a question, given its ranking and its ``scope``."""
        best = ranking[0] if ranking else None
        row = self._row[best.passage.id] if best else None
        score, lexical = (best.score, best.lexical) if best else (-1.0, 0.0)
        return self.vocabulary.signals(query.text, row, score, lexical, scope.known, scope.unknown)

    def covered(self, query: Query, ranking: list[Result], scope: Scope) -> bool:
        """Whether the knowledge answers the question, as the release's calibrated scope model judges."""
        return self.index.scope_model.covered(self.signals(query, ranking, scope))

    def lexical_scores(self, query: Query) -> NDArray[np.float32]:
        count = len(self.index.passages)
        tokens = _tokenize([query.expanded])[0]
        if not tokens or count == 0:
            return np.zeros(count, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)

    def search(self, query: Query, k: int, vector: Vectors | None = None) -> list[Result]:
        """The ``k`` best passages, best first; ties keep the knowledge base's order."""
        if vector is None:
            vector = self.embed(query)
        dense = self.dense_scores(vector)
        raw = self.lexical_scores(query)
        lexical = raw / (raw + LEXICAL_HALF)
        fused = DENSE_WEIGHT * dense + LEXICAL_WEIGHT * lexical
        order = best_first(fused, k)
        return [
            Result(
                self.index.passages[i],
                round(float(fused[i]), 6),
                float(dense[i]),
                float(lexical[i]),
                self.highlights(int(i), vector),
            )
            for i in order
        ]

    def highlights(self, row: int, vector: Vectors) -> tuple[Span, ...]:
        """The sentences of passage ``row`` that answer the question whose vector is ``vector``."""
        sentences = self._sentences[row]
        similarities = self.index.sentence_vectors[sentences] @ vector.reshape(-1)
        return tuple(answering([self.index.sentence_spans[i] for i in sentences], similarities))
