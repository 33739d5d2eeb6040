"""The assistant: the crisis gate, then retrieval, then the fixed texts. Web and command line both
answer through it, so that they always agree."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from bot.embedding import Embedder
from bot.index import load_index
from bot.query import QueryReader
from bot.retrieval import Result, Retriever, Scope
from bot.safety import CRISIS_NOTICE, CrisisDetector
from bot.settings import Settings

MAX_ANSWERS = 3
RANKING_DEPTH = 30  # how far down the ranking a reply keeps: the related topics come from below the answers
DISCLAIMER = (
    "This is general information from our vetted materials, not medical advice. "
    "Please consult your doctor before starting, changing or stopping any treatment."
)


def fallback_notice(settings: Settings) -> str:
    return (
        "I'm sorry, I don't have a vetted answer to that question. "
        f"Please call {settings.contact_name} at {settings.contact_phone} to talk with a person, "
        "and consult your doctor about your own situation."
    )


@dataclass(frozen=True)
class ChatReply:
    answers: tuple[Result, ...]
    matched: bool
    crisis: bool
    notice: str | None
    disclaimer: str
    index_version: str
    ranking: tuple[Result, ...] = ()  # the best RANKING_DEPTH passages; none for a crisis reply


def load_retriever(settings: Settings, embedder: Embedder) -> Retriever:
    """Load the index in ``settings.index_dir`` with every check; raises ``IndexRefused``."""
    index = load_index(settings.index_dir, embedder.model_id, embedder.dimension)
    texts = [t for p in index.passages for t in (p.section, p.text, *p.questions)]
    return Retriever(index, embedder, QueryReader.for_texts(texts, index.synonyms, embedder.known_words()))


class Assistant:
    """Answers questions from the current retriever; ``swap`` replaces it in one step."""

    def __init__(self, settings: Settings, retriever: Retriever, crisis: CrisisDetector) -> None:
        self.settings = settings
        self.crisis = crisis
        self._retriever = retriever
        self._lock = threading.Lock()

    @property
    def retriever(self) -> Retriever:
        return self._retriever

    def swap(self, retriever: Retriever) -> None:
        # One reference assignment: requests already holding the old retriever finish on it.
        with self._lock:
            self._retriever = retriever

    def is_covered(self, results: list[Result], scope: Scope) -> bool:
        """Whether the best passage answers the question well enough to show.

        Two rules, calibrated on the evaluation sets: the best score clears the threshold, and the
        question is not closer to an out-of-scope example (``knowledge/out-of-scope.yaml``) than to
        anything the knowledge answers. A score alone cannot tell "what does a session cost?" from a
        real question: it mentions sessions, so it scores like one.
        """
        if not results or results[0].score < self.settings.match_threshold:
            return False
        return scope.unknown < scope.known + self.settings.out_of_scope_margin

    def chat(self, message: str, retriever: Retriever | None = None) -> ChatReply:
        """Answer a visitor, with one encode call for the crisis gate and retrieval together."""
        retriever = retriever or self._retriever
        query = retriever.read(message)
        gate = self.crisis.texts(message)  # the message first, then its sentences if it has several
        expanded = [query.expanded] if query.expanded != message else []
        vectors = retriever.embedder.embed([*gate, *expanded])
        # The crisis gate runs first and overrides everything else.
        if self.crisis.check(message, vectors[: len(gate)]).crisis:
            return ChatReply((), False, True, CRISIS_NOTICE, DISCLAIMER, retriever.version)
        ranking = tuple(retriever.search(query, RANKING_DEPTH, vectors[len(gate)] if expanded else vectors[0]))
        if not self.is_covered(list(ranking), retriever.scope(vectors[0])):
            notice = fallback_notice(self.settings)
            return ChatReply((), False, False, notice, DISCLAIMER, retriever.version, ranking)
        return ChatReply(ranking[:MAX_ANSWERS], True, False, None, DISCLAIMER, retriever.version, ranking)

    def search(self, text: str, k: int) -> tuple[list[Result], str]:
        retriever = self._retriever
        return retriever.search(retriever.read(text), k), retriever.version
