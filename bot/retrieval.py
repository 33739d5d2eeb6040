"""Ranking passages for a question: dense similarity fused with BM25, deterministic, explained by a
score that a threshold can use."""

from __future__ import annotations

from dataclasses import dataclass

import bm25s
import numpy as np
import Stemmer
from numpy.typing import NDArray

from bot.embedding import Embedder, Vectors
from bot.index import LoadedIndex
from bot.knowledge import Passage
from bot.query import STOP_WORDS, Query, QueryReader

# The final score is DENSE_WEIGHT * cosine + LEXICAL_WEIGHT * bm25 / (bm25 + LEXICAL_HALF):
# both parts are absolute, so the score means the same thing from one question to the next.
DENSE_WEIGHT = 0.9
LEXICAL_WEIGHT = 0.1
LEXICAL_HALF = 2.0
# How many nearest vectors to read per question; enough for every vector of a small index, and for
# the passages that matter in a large one.
SEARCH_DEPTH = 4096
_STEMMER = Stemmer.Stemmer("english")


@dataclass(frozen=True)
class Result:
    """One ranked passage. ``score`` ranks; ``dense`` and ``lexical`` show where it came from."""

    passage: Passage
    score: float
    dense: float
    lexical: float


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


class Retriever:
    """Searches one loaded index. Built once per index; cheap to call from many threads."""

    def __init__(self, index: LoadedIndex, embedder: Embedder, reader: QueryReader) -> None:
        self.index = index
        self.embedder = embedder
        self.reader = reader
        owners = index.owners
        # Row 0 of each passage's vectors is its text; the rows after it are its alternate questions.
        self._is_text = np.r_[True, owners[1:] != owners[:-1]] if len(owners) else np.zeros(0, dtype=bool)
        self._has_questions = np.bincount(owners, minlength=len(index.passages)) > 1
        self._bm25 = bm25s.BM25()
        self._bm25.index(_tokenize([_lexical_text(p) for p in index.passages]), show_progress=False)

    @property
    def version(self) -> str:
        return self.index.version

    def read(self, text: str) -> Query:
        return self.reader.read(text)

    def embed(self, query: Query) -> Vectors:
        return self.embedder.embed([query.expanded])

    def dense_scores(self, vector: Vectors) -> NDArray[np.float32]:
        """Each passage's cosine to the question: the mean of its text's and its best alternate's."""
        count = len(self.index.passages)
        text = np.full(count, -1.0, dtype=np.float32)
        asked = np.full(count, -1.0, dtype=np.float32)
        total = self.index.vectors.ntotal
        if total == 0:
            return text
        similarities, rows = self.index.vectors.search(vector.reshape(1, -1), min(total, SEARCH_DEPTH))
        found = rows[0] >= 0
        rows, similarities = rows[0][found], similarities[0][found]
        owners = self.index.owners[rows]
        is_text = self._is_text[rows]
        np.maximum.at(text, owners[is_text], similarities[is_text])
        np.maximum.at(asked, owners[~is_text], similarities[~is_text])
        has_questions = self._has_questions
        return np.where(has_questions, (text + np.maximum(asked, text)) / 2, text).astype(np.float32)

    def scope(self, vector: Vectors) -> Scope:
        query = vector.reshape(1, -1)
        known = -1.0
        if self.index.vectors.ntotal:
            known = float(self.index.vectors.search(query, 1)[0][0][0])
        unknown, example = -1.0, None
        if self.index.out_of_scope_vectors.ntotal:
            similarity, row = self.index.out_of_scope_vectors.search(query, 1)
            unknown, example = float(similarity[0][0]), self.index.out_of_scope[int(row[0][0])]
        return Scope(known, unknown, example)

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
        order = np.lexsort((np.arange(len(fused)), -fused))[:k]
        return [
            Result(self.index.passages[i], round(float(fused[i]), 6), float(dense[i]), float(lexical[i])) for i in order
        ]
