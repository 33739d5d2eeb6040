"""The assistant: the crisis gate, then retrieval, then the fixed texts. Web and command line both
answer through it, so that they always agree."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from bot.content import SAFETY_FOLDER
from bot.embedding import Embedder
from bot.index import IndexRefused, load_index, read_manifest
from bot.query import CONTACT_TOPIC, QueryReader
from bot.retrieval import Result, Retriever
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


def contact_notice(settings: Settings) -> str:
    """The reply to a question about the clinic itself: its phone, address, hours or appointments."""
    return (
        f"You can reach {settings.contact_name} at {settings.contact_phone}. "
        "A person there can help with the clinic's address, opening hours, appointments and costs."
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


def load_retriever(settings: Settings, embedder: Embedder, index_dir: Path | None = None) -> Retriever:
    """Load the index in ``index_dir`` (``settings.index_dir``) with every check; raises ``IndexRefused``."""
    index = load_index(index_dir or settings.index_dir, embedder.model_id, embedder.dimension)
    texts = [t for p in index.passages for t in (p.section, p.text, *p.questions)]
    return Retriever(index, embedder, QueryReader.for_texts(texts, index.synonyms, embedder.known_words()))


def load_release(settings: Settings, embedder: Embedder) -> tuple[Retriever, CrisisDetector]:
    """The index and the crisis lists it carries, loaded and checked together; raises ``IndexRefused``."""
    retriever = load_retriever(settings, embedder)
    try:
        crisis = CrisisDetector.load(retriever.index.folder / SAFETY_FOLDER, embedder)
    except ValueError as error:
        raise IndexRefused(str(error)) from error
    # A build that finished between the two loads would pair these passages with its crisis lists.
    if read_manifest(settings.index_dir).index_version != retriever.version:
        raise IndexRefused("the index changed while it was being loaded; try again")
    return retriever, crisis


@dataclass(frozen=True)
class Snapshot:
    """What one release serves: its index and its crisis lists, always used together."""

    retriever: Retriever
    crisis: CrisisDetector

    @property
    def version(self) -> str:
        return self.retriever.version


class Assistant:
    """Answers questions from the current retriever; ``swap`` replaces it in one step."""

    def __init__(self, settings: Settings, retriever: Retriever, crisis: CrisisDetector) -> None:
        self.settings = settings
        self.snapshot = Snapshot(retriever, crisis)
        self._lock = threading.Lock()

    @property
    def retriever(self) -> Retriever:
        return self.snapshot.retriever

    @property
    def crisis(self) -> CrisisDetector:
        return self.snapshot.crisis

    def swap(self, retriever: Retriever, crisis: CrisisDetector | None = None) -> None:
        # One reference assignment: requests already holding the old snapshot finish on it, and no
        # request sees the new passages with the old crisis lists.
        with self._lock:
            self.snapshot = Snapshot(retriever, crisis or self.crisis)

    def chat(self, message: str, snapshot: Snapshot | None = None) -> ChatReply:
        """Answer a visitor, with one encode call for the crisis gate and retrieval together."""
        snapshot = snapshot or self.snapshot
        retriever, crisis = snapshot.retriever, snapshot.crisis
        query = retriever.read(message)
        gate = crisis.texts(message)  # the message first, then its sentences if it has several
        expanded = [query.expanded] if query.expanded != message else []
        vectors = retriever.embedder.embed([*gate, *expanded])
        # The crisis gate runs first and overrides everything else.
        if crisis.check(message, vectors[: len(gate)]).crisis:
            return ChatReply((), False, True, CRISIS_NOTICE, DISCLAIMER, retriever.version)
        ranking = tuple(retriever.search(query, RANKING_DEPTH, vectors[len(gate)] if expanded else vectors[0]))
        scope = retriever.scope(vectors[0])
        if not retriever.covered(query, list(ranking), scope):
            about_clinic = scope.topic == CONTACT_TOPIC
            notice = contact_notice(self.settings) if about_clinic else fallback_notice(self.settings)
            return ChatReply((), False, False, notice, DISCLAIMER, retriever.version, ranking)
        return ChatReply(ranking[:MAX_ANSWERS], True, False, None, DISCLAIMER, retriever.version, ranking)

    def search(self, text: str, k: int) -> tuple[list[Result], str]:
        retriever = self.retriever
        return retriever.search(retriever.read(text), k), retriever.version
