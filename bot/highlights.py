"""The sentences of a passage, as character spans, and which of them answer a question.

A passage is shown whole and word for word; the sentence(s) closest to the question are only marked.
Spans come from a rule-based sentence splitter (pysbd), which knows abbreviations and decimals, and
each sentence's vector is computed once, when the index is built.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pysbd
from numpy.typing import NDArray

Span = tuple[int, int]
# How many sentences are marked: the answer often runs over two ("It is given as a spray. A doctor
# watches ..."). On the evaluation sets the marked text held the gold phrase for 0.67 of the questions
# with one sentence marked and 0.89 with two.
MARKED_SENTENCES = 2


@cache
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def sentence_spans(text: str) -> list[Span]:
    """Each sentence of ``text`` as ``(start, end)``, without its surrounding white space."""
    spans = []
    for piece in _segmenter().segment(text):
        start, end = piece.start, piece.end
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            spans.append((start, end))
    return spans


def answering(spans: list[Span], similarities: NDArray[np.float32]) -> list[Span]:
    """The spans to mark: the MARKED_SENTENCES closest to the question, in text order (so sorted and
    never overlapping)."""
    closest = np.argsort(-similarities, kind="stable")[:MARKED_SENTENCES]
    return [spans[int(i)] for i in sorted(closest)]
