"""The assistant: the crisis gate, then retrieval, then the fixed texts. Web and command line both
answer through it, so that they always agree."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bot.embedding import Embedder, Vectors
from bot.index import IndexRefused, load_index, read_manifest
from bot.language import language_notice
from bot.query import CONTACT_TOPIC, Query, QueryReader, words
from bot.retrieval import Result, Retriever
from bot.safety import CRISIS_NOTICE, SAFETY_FOLDER, CrisisDetector
from bot.settings import Settings

MAX_ANSWERS = 3
RANKING_KEPT = 30  # how far down the ranking a reply keeps: the related topics come from below the answers
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
    index_version: str
    disclaimer: str = DISCLAIMER
    ranking: tuple[Result, ...] = ()  # the best RANKING_KEPT passages; none for a crisis reply
    language_notice: str | None = None  # a fixed line in the visitor's language when it is not English

    @classmethod
    def for_crisis(cls, index_version: str) -> ChatReply:
        """The crisis resources, before anything else, and no passage."""
        return cls((), matched=False, crisis=True, notice=CRISIS_NOTICE, index_version=index_version)

    @classmethod
    def no_answer(cls, notice: str, index_version: str, ranking: tuple[Result, ...]) -> ChatReply:
        """No vetted answer: ``notice`` says who to ask instead; the ranking still offers related topics."""
        return cls((), matched=False, crisis=False, notice=notice, index_version=index_version, ranking=ranking)

    @classmethod
    def answer(cls, shown: tuple[Result, ...], index_version: str, ranking: tuple[Result, ...]) -> ChatReply:
        """Vetted passages, verbatim, with the disclaimer."""
        return cls(shown, matched=True, crisis=False, notice=None, index_version=index_version, ranking=ranking)


def load_retriever(settings: Settings, embedder: Embedder, index_dir: Path | None = None) -> Retriever:
    """Load the index in ``index_dir`` (``settings.index_dir``) with every check; raises ``IndexRefused``."""
    index = load_index(index_dir or settings.index_dir, embedder.model_id, embedder.dimension)
    texts = [t for p in index.passages for t in (p.section, p.text, *p.questions)]
    return Retriever(index, embedder, QueryReader.for_texts(texts, index.synonyms, embedder.known_words()))


def load_release(
    settings: Settings, embedder: Embedder, index_dir: Path | None = None
) -> tuple[Retriever, CrisisDetector]:
    """The index in ``index_dir`` (``settings.index_dir``) and the crisis lists it carries, loaded and
    checked together; raises ``IndexRefused``."""
    folder = index_dir or settings.index_dir
    retriever = load_retriever(settings, embedder, folder)
    try:
        crisis = CrisisDetector.load(retriever.index.folder / SAFETY_FOLDER, embedder)
    except ValueError as error:
        raise IndexRefused(str(error)) from error
    # A build that finished between the two loads would pair these passages with its crisis lists.
    if read_manifest(folder).index_version != retriever.version:
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

    def chat(self, message: str, history: Sequence[str] = (), snapshot: Snapshot | None = None) -> ChatReply:
        """Answer a visitor; a message not in English also gets a fixed line in its language."""
        reply = self._answer(message, history, snapshot or self.snapshot)
        phone = self.settings.language_help_phone or self.settings.contact_phone
        notice = language_notice(message, self.settings.contact_name, phone)
        return replace(reply, language_notice=notice) if notice else reply

    def _answer(self, message: str, history: Sequence[str], snapshot: Snapshot) -> ChatReply:
        """Answer a visitor, with one encode call for the crisis gate and retrieval together.

        ``history`` holds the visitor's earlier questions, oldest first. A message that reads as a
        follow-up ("and how long does that last?") is answered together with the question before it
        when that finds a vetted answer; the crisis gate always reads the message itself.
        """
        retriever, crisis = snapshot.retriever, snapshot.crisis
        query = retriever.read(message)
        gate = crisis.texts(message)  # the message first, then what else the gate reads of it
        expanded = [query.expanded] if query.expanded != message else []
        vectors = retriever.embedder.embed([*gate, *expanded])
        # The crisis gate runs first and overrides everything else.
        if crisis.check(message, vectors[: len(gate)]).crisis:
            return ChatReply.for_crisis(retriever.version)
        if history and reads_as_follow_up(message):
            combined = self.judge(retriever, f"{history[-1]} {message}")
            if combined.covered:
                return self._reply(retriever, combined)
        return self._reply(
            retriever, self.judge(retriever, message, vectors[0], vectors[len(gate)] if expanded else None, query)
        )

    def judge(
        self,
        retriever: Retriever,
        text: str,
        typed: Vectors | None = None,
        expanded: Vectors | None = None,
        query: Query | None = None,
    ) -> Judgement:
        """Rank the passages for ``text`` and decide whether the knowledge covers it; a caller that has
        already read the question (``query``) or embedded it passes them in."""
        query = query or retriever.read(text)
        if typed is None:
            typed, expanded = retriever.embedder.embed([text, query.expanded])
        expanded = typed if expanded is None else expanded
        ranking = retriever.search(query, RANKING_KEPT, expanded)
        scope = retriever.scope(typed)
        return Judgement(tuple(ranking), retriever.covered(query, ranking, scope), scope.topic == CONTACT_TOPIC)

    def _reply(self, retriever: Retriever, judged: Judgement) -> ChatReply:
        if not judged.covered:
            notice = contact_notice(self.settings) if judged.about_clinic else fallback_notice(self.settings)
            return ChatReply.no_answer(notice, retriever.version, judged.ranking)
        shown = tuple(shown_answers(judged.ranking, retriever.index.scope_model.answer_margin))
        return ChatReply.answer(shown, retriever.version, judged.ranking)

    def search(self, text: str, k: int) -> tuple[list[Result], str]:
        retriever = self.retriever
        return retriever.search(retriever.read(text), k), retriever.version

    def lookup(self, text: str, k: int) -> Lookup:
        """Staff search: ``k`` ranked passages, no crisis gate, and what the visitor page would show."""
        retriever = self.retriever
        judged = self.judge(retriever, text)
        ranking = judged.ranking if k <= len(judged.ranking) else tuple(self.search(text, k)[0])
        shown = shown_answers(judged.ranking, retriever.index.scope_model.answer_margin) if judged.covered else []
        return Lookup(ranking[:k], judged.covered, frozenset(r.passage.id for r in shown), retriever.version)


@dataclass(frozen=True)
class Judgement:
    ranking: tuple[Result, ...]
    covered: bool
    about_clinic: bool  # closest to the out-of-scope list's questions about the clinic itself


@dataclass(frozen=True)
class Lookup:
    """A staff search: the ranking, whether the visitor page would answer, and which passages it shows."""

    results: tuple[Result, ...]
    matched: bool
    shown: frozenset[str]
    index_version: str


def load_assistant(settings: Settings, embedder: Embedder) -> Assistant:
    """The assistant for the index in ``settings.index_dir``, with every check; raises ``IndexRefused``."""
    return Assistant(settings, *load_release(settings, embedder))


def shown_answers(ranking: Sequence[Result], margin: float) -> list[Result]:
    """What a visitor sees: the best passage, and each next one only while it scores within ``margin``
    of the one shown before it (at most MAX_ANSWERS): one passage that answers fits a phone, three that
    might do not."""
    shown: list[Result] = []
    for result in ranking[:MAX_ANSWERS]:
        if shown and result.score < shown[-1].score - margin:
            break
        shown.append(result)
    return shown


# A message that leans on the one before it: a word that points back, or an opening that continues.
_POINTING = frozenset("it its it's that this those these they them their there one ones".split())
_CONTINUING = ("and ", "also ", "but ", "so ", "what about", "how about", "then ", "plus ")
FOLLOW_UP_WORDS = 10


def reads_as_follow_up(message: str) -> bool:
    """Whether a message reads as continuing the previous question rather than standing on its own."""
    text = message.casefold().strip()
    found = words(text)
    return len(found) <= FOLLOW_UP_WORDS and (text.startswith(_CONTINUING) or bool(_POINTING.intersection(found)))
