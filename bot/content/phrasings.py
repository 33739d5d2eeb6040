"""A check that needs the model: alternate phrasings that sit closer to another section than their own.

Such a phrasing pulls visitors who ask it towards its own passage while the text of another section
reads as the better answer, so an editor should move it, reword it, or leave it knowingly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.embedding import Embedder
from bot.index import embedding_texts
from bot.knowledge import Passage, Problem

# How much closer the other section must be before it is worth a warning.
MARGIN = 0.1


def _question_line(passage: Passage, question: str) -> int:
    try:
        lines = Path(passage.path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return passage.line
    for number in range(passage.line, len(lines) + 1):
        if lines[number - 1].strip() == f"- {question}":
            return number
    return passage.line


def phrasing_problems(passages: Sequence[Passage], embedder: Embedder, margin: float = MARGIN) -> list[Problem]:
    """A warning for each alternate question whose best-matching passage text is in another section."""
    asked = [(p, q) for p in passages for q in p.questions]
    if not asked or len(passages) < 2:
        return []
    texts = embedder.embed([embedding_texts(p)[0] for p in passages])
    questions = embedder.embed([q for _, q in asked])
    similarity = questions @ texts.T
    sections = [(p.path, p.section) for p in passages]
    problems = []
    for row, (passage, question) in enumerate(asked):
        home = (passage.path, passage.section)
        own = max(float(similarity[row, i]) for i, s in enumerate(sections) if s == home)
        order = np.argsort(-similarity[row])
        best = next(int(i) for i in order if sections[int(i)] != home) if len(set(sections)) > 1 else None
        if best is None or float(similarity[row, best]) <= own + margin:
            continue
        other = passages[best]
        problems.append(
            Problem(
                passage.path,
                _question_line(passage, question),
                f"alternate question {question!r} matches section '{other.section}' ({other.id}) better than "
                f"its own '{passage.section}' ({float(similarity[row, best]):.2f} against {own:.2f})",
                "warning",
            )
        )
    return problems
