"""Unanswered questions as a to-do list: near-duplicates grouped by meaning, why each went unanswered,
totals per week, and which groups an editor has handled.

The question log groups wordings that share their words (``bot.questionlog.group_key``); here those
groups are joined when they mean the same: "Can I take ketamine while pregnant?" and "is it ok while
pregnant" are one topic. Two questions are compared by the mean of two cosines from the embedder: of
their whole text, and of their content words without the words nearly every passage uses ("ketamine"),
which otherwise make any two questions look alike. The groups are joined by average-linkage clustering
(SciPy). Why a topic went unanswered is asked of the served index with the assistant's own judgement.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from bot.assistant import Assistant
from bot.embedding import Vectors
from bot.knowledge import Passage
from bot.query import STOP_WORDS, words
from bot.questionlog import QuestionGroup
from bot.redaction import PLACEHOLDER
from bot.retrieval import Retriever
from bot.storage import Handled

SAME_TOPIC = 0.5  # the mean cosine at which two questions are one topic
EVERYWHERE = 0.25  # a word in this share of the passages or more says nothing about what is asked


@dataclass(frozen=True)
class Why:
    """Why the served index gives a topic no answer (or that it answers it now)."""

    answered_now: bool
    out_of_scope_topic: str | None  # closer to this topic of knowledge/out-of-scope.yaml than to any passage
    out_of_scope_example: str | None
    nearest_section: str | None  # otherwise: the nearest passage's section, not close enough
    score: float

    @property
    def words(self) -> str:
        if self.answered_now:
            return f"The served index answers it now (from “{self.nearest_section}”)."
        if self.out_of_scope_topic:
            return (
                f"Closer to the out-of-scope topic “{self.out_of_scope_topic}” "
                f"(“{self.out_of_scope_example}”) than to any passage."
            )
        return f"Below the threshold: the nearest passage, “{self.nearest_section}”, is not close enough."


@dataclass(frozen=True)
class Topic:
    """Unanswered wordings that mean the same, most asked first, and what became of them."""

    wordings: tuple[QuestionGroup, ...]
    why: Why
    handled: Handled | None  # set while no wording was asked again after an editor marked it handled

    @property
    def text(self) -> str:
        return self.wordings[0].text

    @property
    def count(self) -> int:
        return sum(g.count for g in self.wordings)

    @property
    def first_seen(self) -> dt.datetime:
        return min(g.first_seen for g in self.wordings)

    @property
    def last_seen(self) -> dt.datetime:
        return max(g.last_seen for g in self.wordings)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(g.key for g in self.wordings)


def everyday_words(passages: Sequence[Passage]) -> frozenset[str]:
    """The words in at least ``EVERYWHERE`` of the passages: the subject itself, not what is asked of it."""
    seen = Counter(w for p in passages for w in set(words(f"{p.section} {p.text}")))
    return frozenset(w for w, n in seen.items() if n >= EVERYWHERE * len(passages))


def content(text: str, everyday: frozenset[str]) -> str:
    """What a question asks about: its words without stop words, placeholders and the everyday ones."""
    kept = [w for w in words(PLACEHOLDER.sub(" ", text)) if w not in STOP_WORDS and w not in everyday]
    return " ".join(kept) or text


def clusters(whole: Vectors, gist: Vectors, threshold: float = SAME_TOPIC) -> list[int]:
    """A cluster number for each row: rows whose mean cosine (whole text and gist) reaches ``threshold``
    on average are one cluster."""
    if len(whole) < 2:
        return [1] * len(whole)
    # Imported here: only the dashboard groups questions, and scipy.cluster costs a serving worker 16 MB.
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    distance = (pdist(whole, "cosine") + pdist(gist, "cosine")) / 2
    tree = linkage(np.clip(distance, 0.0, 2.0), method="average")
    return [int(c) for c in fcluster(tree, t=1.0 - threshold, criterion="distance")]


def why(assistant: Assistant, retriever: Retriever, text: str, vector: Vectors) -> Why:
    """The served index's judgement of ``text`` (whose embedding is ``vector``), as an editor acts on it."""
    query = retriever.read(text)
    expanded = retriever.embedder.embed([query.expanded]) if query.expanded != text else vector
    judged = assistant.judge(retriever, text, vector, expanded, query)
    scope = retriever.scope(vector)
    best = judged.ranking[0] if judged.ranking else None
    section, score = (best.passage.section, best.score) if best else (None, -1.0)
    closer_elsewhere = scope.topic is not None and scope.unknown > scope.known
    if judged.covered or not closer_elsewhere:
        return Why(judged.covered, None, None, section, score)
    return Why(False, scope.topic, scope.example, section, score)


def topics(assistant: Assistant, groups: Sequence[QuestionGroup], handled: Mapping[str, Handled]) -> list[Topic]:
    """The question log's groups joined by meaning, most asked first, each with why and whether handled."""
    return with_handled(_join(assistant, assistant.retriever, groups), handled)


def with_handled(found: Sequence[Topic], handled: Mapping[str, Handled]) -> list[Topic]:
    return [replace(t, handled=handled_topic(t.wordings, handled)) for t in found]


def handled_topic(wordings: Sequence[QuestionGroup], handled: Mapping[str, Handled]) -> Handled | None:
    """The latest mark when every wording was marked handled after it was last asked; None otherwise."""
    marks = [handled.get(g.key) for g in wordings]
    if all(m is not None and m.at >= g.last_seen for m, g in zip(marks, wordings, strict=True)):
        return max((m for m in marks if m is not None), key=lambda m: m.at)
    return None


class TopicList:
    """``topics`` for the dashboard: the last grouping is kept while neither the question log's groups nor
    the served index change, so that reloading the page (after each Mark handled) costs no embedding."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[tuple[str, tuple[QuestionGroup, ...]], tuple[Topic, ...]] | None = None

    def __call__(
        self, assistant: Assistant, groups: Sequence[QuestionGroup], handled: Mapping[str, Handled]
    ) -> list[Topic]:
        retriever = assistant.retriever
        key = (retriever.version, tuple(groups))
        with self._lock:
            last = self._last
        if last is None or last[0] != key:
            last = (key, _join(assistant, retriever, groups))
            with self._lock:
                self._last = last
        return with_handled(last[1], handled)


def _join(assistant: Assistant, retriever: Retriever, groups: Sequence[QuestionGroup]) -> tuple[Topic, ...]:
    if not groups:
        return ()
    everyday = everyday_words(retriever.index.passages)
    texts = [g.text for g in groups]
    vectors = retriever.embedder.embed([*texts, *(content(t, everyday) for t in texts)])
    whole, gist = vectors[: len(texts)], vectors[len(texts) :]
    members: dict[int, list[int]] = {}
    for row, cluster in enumerate(clusters(whole, gist)):
        members.setdefault(cluster, []).append(row)
    found = []
    for rows in members.values():
        rows.sort(key=lambda r: (-groups[r].count, -groups[r].last_seen.timestamp()))
        wordings = tuple(groups[r] for r in rows)
        found.append(Topic(wordings, why(assistant, retriever, texts[rows[0]], whole[rows[0]]), None))
    return tuple(sorted(found, key=lambda t: (-t.count, -t.last_seen.timestamp())))


def week_of(day: dt.date) -> dt.date:
    """The Monday that starts ``day``'s week."""
    return day - dt.timedelta(days=day.weekday())


def per_week(asked: Sequence[dt.datetime], tz: dt.tzinfo = dt.UTC) -> list[tuple[dt.date, int]]:
    """How many unanswered questions each week (by its Monday), newest first."""
    weeks = Counter(week_of(stamp.astimezone(tz).date()) for stamp in asked)
    return sorted(weeks.items(), reverse=True)
