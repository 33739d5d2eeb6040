"""Related topics: the next few sections near a question, each with a question that finds it.

The visitor page shows them under an answer as buttons. They come from the reply's own ranking
(``ChatReply.ranking``), so they are the sections that came closest without being shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.knowledge import Passage
from bot.retrieval import Result

MAX_TOPICS = 3


@dataclass(frozen=True)
class Topic:
    """A section to offer, and the question a button asks to open it."""

    section: str
    question: str


def _key(passage: Passage) -> tuple[str, str]:
    # Two knowledge files may share a heading ("Side effects"): a section is a heading within a file.
    return passage.title, passage.section


def question_for(passages: Sequence[Passage], key: tuple[str, str]) -> str:
    """The section's first alternate question (written by the content team to find it), else its heading."""
    for passage in passages:
        if _key(passage) == key and passage.questions:
            return passage.questions[0]
    return key[1]


def topics_below(
    ranking: Sequence[Result], passages: Sequence[Passage], shown: int, limit: int = MAX_TOPICS
) -> list[Topic]:
    """The sections of ``ranking`` below its first ``shown`` passages, once each, best first.

    A chat reply keeps its ranking (``ChatReply.ranking``), so the topics under an answer cost no
    second search. A reply that shows no passage (the fallback) gets the top sections themselves."""
    # The reply shows the top ``shown`` passages of this same ranking: their sections are on screen.
    seen = {_key(r.passage) for r in ranking[:shown]}
    topics: list[Topic] = []
    for result in ranking[shown:]:
        key = _key(result.passage)
        if key in seen:
            continue
        seen.add(key)
        topics.append(Topic(section=key[1], question=question_for(passages, key)))
        if len(topics) == limit:
            break
    return topics
