"""Reading a visitor's question: normalise it, mend misspellings against the knowledge base's own
words, and add the document's terms for lay words listed in ``knowledge/synonyms.yaml``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein
from wordfreq import zipf_frequency

from bot.knowledge import Problem
from bot.stop_words import ENGLISH_STOP_WORDS
from bot.text import fold, yaml_error

SYNONYMS_YAML = "synonyms.yaml"
OUT_OF_SCOPE_YAML = "out-of-scope.yaml"
# The out-of-scope topic of questions about the clinic itself: they get its contact details.
CONTACT_TOPIC = "contact"
WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# Words that say how someone asks, not what about: they carry no weight in keyword matching.
ASKING_WORDS = frozenset(
    """
    ok okay hi hello hey please thanks thank yes wondering wonder know tell explain mean means
    im ive id dont doesnt cant wont isnt arent didnt does did do can could would should will shall
    may might must need want like get getting got go going gonna wanna really just actually
    thing things stuff kind sort lot lots much many bit little good bad normal usually also
    ketamines people person someone somebody anyone guy guys doc
    """.split()
)
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | ASKING_WORDS
# A word at least this frequent in everyday English (wordfreq's Zipf scale: 3 is once a million words)
# is a word, not a typo, even when the knowledge base lacks it and has a word one letter away.
REAL_WORD_ZIPF = 2.5


def words(text: str) -> list[str]:
    return [w.replace("'", "") for w in WORD.findall(fold(text).replace("'", ""))]


@dataclass(frozen=True)
class OutOfScope:
    """A question the knowledge does not answer, under its topic in ``knowledge/out-of-scope.yaml``."""

    topic: str
    question: str


@dataclass(frozen=True)
class Query:
    """A question ready to search: ``expanded`` adds mended spellings and document terms."""

    text: str
    expanded: str


class QueryReader:
    """Turns raw questions into ``Query`` objects, knowing the knowledge base's vocabulary."""

    def __init__(
        self, vocabulary: Iterable[str], synonyms: dict[str, list[str]], dictionary: Iterable[str] = ()
    ) -> None:
        self.vocabulary = frozenset(vocabulary)
        # Real words of the language are never "mended" into the knowledge base's words: "cost" is
        # not a misspelling of "most".
        self.dictionary = frozenset(dictionary)
        self._choices = sorted(w for w in self.vocabulary if len(w) >= 4)
        self.synonyms = {tuple(words(k)): v for k, v in synonyms.items() if words(k)}
        self._longest = max((len(k) for k in self.synonyms), default=0)

    @classmethod
    def for_texts(
        cls, texts: Iterable[str], synonyms: dict[str, list[str]], dictionary: Iterable[str] = ()
    ) -> QueryReader:
        return cls({w for text in texts for w in words(text)}, synonyms, dictionary)

    def mend(self, word: str) -> str | None:
        """The knowledge base's word closest to a misspelt one, if any is close enough."""
        if word in self.vocabulary or word in self.dictionary or len(word) < 4 or word.isdigit():
            return None
        if zipf_frequency(word, "en") >= REAL_WORD_ZIPF:
            return None
        limit = 1 if len(word) < 9 else 2
        found = process.extractOne(word, self._choices, scorer=DamerauLevenshtein.distance, score_cutoff=limit)
        return found[0] if found else None

    def read(self, text: str) -> Query:
        tokens = words(text)
        added: list[str] = []
        mended = [self.mend(t) or t for t in tokens]
        covered: set[int] = set()
        # Longest synonym phrases first, on both the typed and the mended words.
        for sequence in (tokens, mended):
            for size in range(min(self._longest, len(sequence)), 0, -1):
                for start in range(len(sequence) - size + 1):
                    terms = self.synonyms.get(tuple(sequence[start : start + size]))
                    if terms and not covered.intersection(range(start, start + size)):
                        added.extend(terms)
                        covered.update(range(start, start + size))
        added.extend(m for t, m in zip(tokens, mended, strict=True) if m != t)
        expanded = text if not added else f"{text} ({', '.join(dict.fromkeys(added))})"
        return Query(text, expanded)


def load_synonyms(path: Path) -> tuple[dict[str, list[str]], list[Problem]]:
    """Read the synonyms file: ``lay word or phrase: document term`` (or a list of terms)."""
    entries, problems = read_lists(path, "each entry must be 'lay word: document term' (or a list of terms)")
    return {key.casefold(): values for key, values in entries.items()}, problems


def load_out_of_scope(path: Path) -> tuple[list[OutOfScope], list[Problem]]:
    """Read the out-of-scope examples: ``topic:`` then a list of questions the knowledge does not answer."""
    entries, problems = read_lists(path, "each entry must be 'topic:' followed by a list of questions")
    return [OutOfScope(topic, question) for topic, questions in entries.items() for question in questions], problems


def read_lists(path: Path, shape: str) -> tuple[dict[str, list[str]], list[Problem]]:
    """Read a YAML mapping of names to a string or a list of strings, with ``path:line`` problems."""
    if not path.is_file():
        return {}, []
    display = str(path)
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        line, message = yaml_error(error)
        return {}, [Problem(display, line, f"not valid YAML: {message}")]
    if node is None:
        return {}, []
    if not isinstance(node, yaml.MappingNode):
        return {}, [Problem(display, node.start_mark.line + 1, shape)]
    entries: dict[str, list[str]] = {}
    problems: list[Problem] = []
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        key = str(key_node.value).strip() if isinstance(key_node, yaml.ScalarNode) else ""
        if isinstance(value_node, yaml.ScalarNode):
            values = [value_node.value]
        elif isinstance(value_node, yaml.SequenceNode) and all(
            isinstance(v, yaml.ScalarNode) for v in value_node.value
        ):
            values = [v.value for v in value_node.value]
        else:
            values = []
        values = [str(v).strip() for v in values if str(v).strip()]
        if not key or not values:
            problems.append(Problem(display, line, shape))
        elif key.casefold() in (k.casefold() for k in entries):
            problems.append(Problem(display, line, f"'{key}' is listed twice"))
        else:
            entries[key] = values
    return entries, problems
