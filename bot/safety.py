"""The crisis gate: spots suicide and self-harm risk in a message before retrieval runs.

Two layers, both read from reviewable YAML in ``knowledge/safety/``. Word patterns a clinician can
read come first and always win: English in ``crisis-patterns.yaml``, each other language in its own
``crisis-patterns-<language>.yaml``, grouped by the categories clinicians screen for (see
``CATEGORIES``). Then similarity to curated crisis examples catches English paraphrases; a closer calm
counter-example (an idiom, a general question) may veto a similarity hit, never a pattern hit,
because a missed crisis is worse than a false alarm.

Before either layer, a message is read the way a person would read it, whatever disguise it wears:
URL-encoded text is decoded, emoji become their names (🔫 -> "water pistol"), letters that look alike
across alphabets are folded by Unicode's confusables (Cyrillic о -> o), and the word patterns also
see the message with spaced or dotted letters rejoined ("k i l l" -> "kill"), digits read as letters
inside and at the end of words (k1ll, d13) and run-together words split ("iwanttodie").

The crisis lines a flagged message is offered (``CRISIS_LINES``) are kept here too, once, for the API
and every page.
"""

from __future__ import annotations

import html
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import emoji
import numpy as np
import wordninja  # type: ignore[import-untyped]
import yaml
from confusable_homoglyphs import confusables  # type: ignore[import-untyped]
from numpy.typing import NDArray

from bot.embedding import Embedder
from bot.knowledge import Problem
from bot.text import fold, yaml_error


@dataclass(frozen=True)
class CrisisLine:
    """Somewhere a person in crisis can reach now, written down once: the API's notice, the crisis card,
    the chat page's help line and the staff readout all take its number from here."""

    name: str
    number: str  # dialled and texted as written
    keyword: str = ""  # the word a text must say to reach it, if any
    chat: str = ""  # its web chat, if any
    spanish: str = ""  # the key to press after dialling for someone who speaks Spanish, if any

    @property
    def tel(self) -> str:
        return f"tel:{self.number}"

    @property
    def sms(self) -> str:
        """A text link with the keyword already typed, so that a phone sends the right word."""
        return f"sms:{self.number}" + (f"?body={self.keyword}" if self.keyword else "")

    @property
    def chat_site(self) -> str:
        return urllib.parse.urlsplit(self.chat).netloc


class CrisisLines(NamedTuple):
    """Every line offered in a crisis, in the order the crisis card offers them."""

    lifeline: CrisisLine
    emergency: CrisisLine
    text_line: CrisisLine


CRISIS_LINES = CrisisLines(
    lifeline=CrisisLine("Suicide & Crisis Lifeline", "988", chat="https://988lifeline.org/chat", spanish="2"),
    emergency=CrisisLine("Emergency services", "911"),
    text_line=CrisisLine("Crisis Text Line", "741741", keyword="HOME"),
)


def _notice(lifeline: CrisisLine, emergency: CrisisLine, text_line: CrisisLine) -> str:
    return (
        "If you are thinking about suicide or about hurting yourself, you are not alone, and help is here right now. "
        f"Call or text {lifeline.number} ({lifeline.name}, US; press {lifeline.spanish} for Spanish) "
        f"or chat at {lifeline.chat_site}. "
        f"If you are in immediate danger, call {emergency.number}. "
        f"You can also text {text_line.keyword} to {text_line.number} ({text_line.name}). "
        f"En español: llama al {lifeline.number} y marca {lifeline.spanish}."
    )


# The API's ``notice``: clients show it word for word, so its wording is part of the API.
CRISIS_NOTICE = _notice(*CRISIS_LINES)

SAFETY_FOLDER = "safety"  # the crisis lists, in the knowledge folder and in the index built from it
PATTERNS_FILE = "crisis-patterns.yaml"  # English; other languages in crisis-patterns-<language>.yaml
PATTERNS_GLOB = "crisis-patterns*.yaml"
EXAMPLES_FILE = "crisis-examples.yaml"
CALM_FILE = "not-crisis-examples.yaml"  # optional
# The kinds of risk the Columbia Suicide Severity Rating Scale screens for, plus worry about someone
# else (the crisis lines help them too). Every group of patterns and examples is one of these, so a
# reviewer can see at a glance which kinds a language or the examples cover.
CATEGORIES = (
    "wish_to_be_dead",
    "suicidal_thoughts",
    "method",
    "intent",
    "plan",
    "preparation",
    "past_attempt",
    "self_harm",
    "someone_else",
)
# Cosine similarity (all-MiniLM-L6-v2) to the nearest crisis example that counts as a hit, unless a
# calm example is closer. Chosen on the dev half of the external data (hand-reviewed Reddit posts),
# patterns included: at 0.55, crisis recall 0.986 with no false alarm on the 143 calm posts, and 5 of
# 81 Counsel Chat and 12 of 810 other medical questions flagged; at 0.57, recall 0.965 with 2 and 5;
# at 0.60, 0.944. A miss is worse than a false alarm, so it sits at 0.55: lower it rather than raise it.
SIMILARITY_THRESHOLD = 0.55
GAP_WORDS = 5  # what "..." in a pattern may skip

_APOSTROPHES = dict.fromkeys(map(ord, "'’‘`´ʼ′"), None)
_LEET = str.maketrans("013457@$!", "oieastasi")
# Leetspeak inside words (k1ll, su1c1de, $uicide) and digits ending a word (d13), so that numbers
# ("988", "100 mg", "covid19") stay numbers.
_LEET_IN_WORD = re.compile(
    r"(?<=[a-z])[013457@$!]+(?=[a-z])|(?<![a-z0-9])[@$](?=[a-z])|(?<=[a-z])[013457]+(?![a-z0-9])"
)
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_STRETCHED = re.compile(r"([a-z])\1{2,}")
_SPACED_LETTERS = re.compile(r"(?<= )(?:[a-z0-9] ){3,}")  # "k i l l " ("k.i.l.l" once normalised)
_PERCENT_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_TOKEN = re.compile(r"\.\.\.|[()\[\]|]|[^\s()\[\]|]+")
_WORD = re.compile(r"[a-z0-9](?:-?[a-z0-9])*\*?")
_GLUED = re.compile(r"[a-z0-9*.][(\[]|[)\]][a-z0-9.]")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
SEGMENT_MIN = 4  # shorter words are never split: "kms" is slang, not "k ms"


def _look_alikes() -> dict[int, str]:
    """Each non-ASCII character that Unicode's confusables list as looking like an ASCII letter or digit.

    confusable-homoglyphs ships Unicode's confusables data as pure Python. ICU's skeleton (PyICU) was
    the other choice: it needs ICU built on every machine, and it folds plain ASCII too ("rn" -> "m"),
    which would blur the very words the patterns read.
    """
    table = {}
    for char, homoglyphs in confusables.confusables_data.items():
        latin = next((h["c"] for h in homoglyphs if h["c"].isascii() and h["c"].isalnum()), None)
        if len(char) == 1 and not char.isascii() and latin:
            table[ord(char)] = latin
    return table


_LOOK_ALIKES = _look_alikes()


def readable(text: str) -> str:
    """The message as a person sees it: URL escapes decoded, emoji named, look-alike letters folded."""
    if _PERCENT_ESCAPE.search(text):
        text = urllib.parse.unquote_plus(text)
    text = html.unescape(text)
    if not text.isascii():
        text = emoji.demojize(text, delimiters=(" ", " emoji ")).replace("_", " ")
        text = unicodedata.normalize("NFKC", text).translate(_LOOK_ALIKES)
    return text


def _fold(text: str) -> str:
    """Folded as everywhere (bot.text), and without apostrophes (don't = dont = don’t)."""
    return fold(readable(text)).translate(_APOSTROPHES)


def normalize(text: str) -> str:
    """Fold a message to space-separated plain words with a space at each end, as patterns expect."""
    folded = _LEET_IN_WORD.sub(lambda m: m.group().translate(_LEET), _fold(text))
    return " " + " ".join(_NOT_WORD.sub(" ", folded).split()) + " "


@lru_cache(maxsize=8192)
def _split_word(word: str) -> str:
    """A run-together word split by English word frequencies (wordninja); known words stay whole."""
    return " ".join(wordninja.split(word)) if len(word) >= SEGMENT_MIN and not word.isdigit() else word


def _forms(message: str) -> set[str]:
    """The message normalised; then with spaced letters rejoined, stretched letters cut to one and to
    two (dieeee, killll), and each of those with run-together words split (iwanttodie, killmyself)."""
    text = normalize(message)
    joined = _SPACED_LETTERS.sub(lambda m: m.group().replace(" ", "") + " ", text)
    forms = {text}
    for form in {joined, _STRETCHED.sub(r"\1", joined), _STRETCHED.sub(r"\1\1", joined)}:
        forms |= {form, " " + " ".join(map(_split_word, form.split())) + " "}
    return forms


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Turn one pattern (syntax in the header of crisis-patterns.yaml) into a regex; ValueError if malformed."""
    folded = _fold(pattern)
    if _GLUED.search(folded):
        raise ValueError("put a space between a word and a bracket")
    tokens, pos = _TOKEN.findall(folded), 0

    def choices(closer: str | None) -> str:
        nonlocal pos
        options = [sequence()]
        while pos < len(tokens) and tokens[pos] == "|":
            pos += 1
            options.append(sequence())
        if closer is not None:
            if pos >= len(tokens) or tokens[pos] != closer:
                raise ValueError(f"missing {closer!r}")
            pos += 1
        return "|".join(options)

    # Every word renders with its trailing space and the text starts with a space, so whole words
    # need no \b, an optional part carries its own space, and "self harm" cannot match "myself harm".
    def sequence() -> str:
        nonlocal pos
        parts: list[str] = []
        while pos < len(tokens) and tokens[pos] not in {"|", ")", "]"}:
            token = tokens[pos]
            pos += 1
            if token == "(":
                parts.append(f"(?:{choices(')')})")
            elif token == "[":
                parts.append(f"(?:{choices(']')})?")
            elif token == "...":
                parts.append(f"(?:[a-z0-9]+ ){{0,{GAP_WORDS}}}")
            elif _WORD.fullmatch(token):
                stem = token.removesuffix("*").replace("-", " ?")
                parts.append(stem + ("[a-z0-9]* " if token.endswith("*") else " "))
            else:
                raise ValueError(f"{token!r} is not allowed: use words and ( | ) [ ] * ... -")
        if not parts:
            raise ValueError("empty pattern or empty choice")
        return "".join(parts)

    body = choices(None)
    if pos < len(tokens):
        raise ValueError(f"unmatched {tokens[pos]!r}")
    regex = re.compile(f" (?:{body})")
    if regex.search("  "):
        raise ValueError("the pattern would match every message")
    return regex


@dataclass(frozen=True)
class CrisisVerdict:
    """Whether a message needs the crisis notice; ``reason`` is for logs and tests, never stored with it."""

    crisis: bool
    reason: str


@dataclass(frozen=True)
class _Entry:
    text: str
    line: int
    group: str = ""


@dataclass(frozen=True)
class _Rewrite:
    regex: re.Pattern[str]
    words: dict[str, str]  # variant (normalised, no edge spaces) -> the words patterns use

    def __call__(self, text: str) -> str:
        return self.regex.sub(lambda m: self.words[m.group()], text)


@dataclass(frozen=True)
class _Language:
    """One patterns file: its spelling fixes and every group's patterns as one regex, a named group each."""

    name: str
    regex: re.Pattern[str]
    rewrites: tuple[_Rewrite, ...]  # applied one on top of the other

    def hit(self, forms: set[str]) -> str | None:
        layer, seen = forms, set(forms)
        for rewrite in self.rewrites:
            layer = {rewrite(text) for text in layer}
            seen |= layer
        match = next((m for m in map(self.regex.search, seen) if m), None)
        return f"{match.lastgroup} ({self.name})" if match else None


@dataclass(frozen=True)
class _Rules:
    languages: tuple[_Language, ...]
    crisis: tuple[_Entry, ...]
    calm: tuple[_Entry, ...]


def _compose(path: Path, problems: list[Problem]) -> yaml.Node | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        problems.append(Problem(str(path), 1, f"cannot read: {err}"))
        return None
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        line, message = yaml_error(err)
        lines = text.splitlines() or [""]
        # The likeliest slip in these files: YAML reads "- [so] sad" as a list and "- *x" as an alias.
        hint = (
            " (a line that starts with [ or * needs quotes)"
            if re.match(r"\s*- *[\[*]", lines[min(line, len(lines)) - 1])
            else ""
        )
        problems.append(Problem(str(path), line, f"not valid YAML: {message}{hint}"))
    return None


def _mapping(
    node: yaml.Node | None, path: Path, what: str, problems: list[Problem]
) -> dict[str, tuple[int, yaml.Node]]:
    """Keys to (line of the key, value node)."""
    if not isinstance(node, yaml.MappingNode):
        problems.append(Problem(str(path), node.start_mark.line + 1 if node else 1, f"{what} must be a mapping"))
        return {}
    return {str(key.value): (key.start_mark.line + 1, value) for key, value in node.value}


def _strings(node: yaml.Node | None, path: Path, what: str, problems: list[Problem]) -> list[_Entry]:
    if not isinstance(node, yaml.SequenceNode):
        problems.append(Problem(str(path), node.start_mark.line + 1 if node else 1, f"{what} must be a list"))
        return []
    entries = []
    for item in node.value:
        if isinstance(item, yaml.ScalarNode) and str(item.value).strip():
            entries.append(_Entry(str(item.value).strip(), item.start_mark.line + 1))
        else:
            problems.append(Problem(str(path), item.start_mark.line + 1, f"empty or non-text entry in {what}"))
    return entries


def _groups(root: dict[str, tuple[int, yaml.Node]], path: Path, field: str, problems: list[Problem]) -> list[_Entry]:
    """The ``field`` entries of every group, each tagged with its group; groups must be CATEGORIES."""
    entries = []
    groups = _mapping(root.get("groups", (1, None))[1], path, "groups", problems)
    for name, (line, node) in groups.items():
        if name not in CATEGORIES:
            problems.append(Problem(str(path), line, f"unknown group {name!r}: use one of {', '.join(CATEGORIES)}"))
        fields = _mapping(node, path, f"group {name!r}", problems)
        if not str(getattr(fields.get("about", (0, None))[1], "value", "")).strip():
            problems.append(Problem(str(path), line, f"group {name!r} needs an `about:` line"))
        found = _strings(fields.get(field, (line, None))[1], path, f"{field} of {name!r}", problems)
        entries += [_Entry(entry.text, entry.line, name) for entry in found]
    if not groups:
        problems.append(Problem(str(path), 1, "no groups"))
    return entries


def _rewrites(root: dict[str, tuple[int, yaml.Node]], path: Path, problems: list[Problem]) -> list[_Rewrite]:
    rewrites = []
    for section in ("spellings", "contractions"):  # both optional
        words: dict[str, str] = {}
        found = _mapping(root[section][1], path, section, problems) if section in root else {}
        for word, (_, variants) in found.items():
            for variant in _strings(variants, path, f"{section} of {word!r}", problems):
                key = normalize(variant.text).strip()
                if key == normalize(word).strip() or key in words:
                    problems.append(
                        Problem(str(path), variant.line, f"{variant.text!r} is repeated or rewrites to itself")
                    )
                words[key] = normalize(word).strip()
        if words:
            # Longest first, so "i am" is rewritten before a shorter variant inside it could be.
            alternatives = "|".join(map(re.escape, sorted(words, key=len, reverse=True)))
            rewrites.append(_Rewrite(re.compile(f"(?<= )(?:{alternatives})(?= )"), words))
    return rewrites


def _read_language(path: Path, problems: list[Problem]) -> _Language:
    root = _mapping(_compose(path, problems), path, "the file", problems)
    by_group: dict[str, list[str]] = {}
    for entry in _groups(root, path, "patterns", problems):
        try:
            by_group.setdefault(entry.group, []).append(compile_pattern(entry.text).pattern)
        except (ValueError, re.error) as err:
            problems.append(Problem(str(path), entry.line, f"bad pattern {entry.text!r}: {err}"))
    named = [f"(?P<{name}>{'|'.join(regexes)})" for name, regexes in by_group.items() if name.isidentifier()]
    name = path.name.removeprefix("crisis-patterns").removesuffix(".yaml").lstrip("-") or "en"
    return _Language(name, re.compile("|".join(named) or "(?!)"), tuple(_rewrites(root, path, problems)))


def _read_rules(folder: Path) -> tuple[_Rules, list[Problem]]:
    problems: list[Problem] = []
    languages = [_read_language(path, problems) for path in sorted(folder.glob(PATTERNS_GLOB))]
    if not (folder / PATTERNS_FILE).exists():
        problems.append(Problem(str(folder / PATTERNS_FILE), 1, "cannot read: the English patterns are missing"))
    examples_path, calm_path = folder / EXAMPLES_FILE, folder / CALM_FILE
    examples = _mapping(_compose(examples_path, problems), examples_path, "the file", problems)
    crisis = _groups(examples, examples_path, "examples", problems)
    calm = _strings(_compose(calm_path, problems), calm_path, "the file", problems) if calm_path.exists() else []
    if not crisis:
        problems.append(Problem(str(examples_path), 1, "no crisis examples"))
    rules = _Rules(tuple(languages), tuple(crisis), tuple(calm))
    for entry in calm:  # patterns always win, so such a calm example could never count as calm
        if (group := _pattern_hit(rules, entry.text)) is not None:
            problems.append(Problem(str(calm_path), entry.line, f"matches the crisis pattern group {group!r}"))
    return rules, problems


def _pattern_hit(rules: _Rules, message: str) -> str | None:
    forms = _forms(message)
    return next((hit for language in rules.languages if (hit := language.hit(forms))), None)


def check_safety_files(folder: Path) -> list[Problem]:
    """Problems in the safety data files; empty when all is well."""
    return _read_rules(folder)[1]


def _unique(texts: list[str]) -> list[str]:
    return list(dict.fromkeys(texts))


class CrisisDetector:
    """Decides whether a message shows risk of suicide or self-harm. Build it with :meth:`load`."""

    def __init__(self, rules: _Rules, embedder: Embedder, threshold: float) -> None:
        self._rules, self._embedder, self._threshold = rules, embedder, threshold
        texts = [entry.text for entry in (*rules.crisis, *rules.calm)]
        vectors = embedder.embed(texts) if texts else np.zeros((0, embedder.dimension), np.float32)
        self._crisis_vectors, self._calm_vectors = vectors[: len(rules.crisis)], vectors[len(rules.crisis) :]

    @classmethod
    def load(cls, folder: Path, embedder: Embedder, *, threshold: float = SIMILARITY_THRESHOLD) -> CrisisDetector:
        """Read the YAML files in ``folder`` and embed the examples once; ValueError lists any problems."""
        rules, problems = _read_rules(folder)
        if problems:
            raise ValueError("crisis safety files have problems:\n" + "\n".join(map(str, problems)))
        return cls(rules, embedder, threshold)

    def texts(self, message: str) -> list[str]:
        """What the gate embeds: the message as typed (retrieval reuses its vector), then as a person
        reads it when that differs (decoded, emoji named), then each sentence when there are several.

        Every sentence is read wherever it sits, so no crisis line is diluted by the rest. The cost
        stays bounded: the sentences together are no longer than the message (500 characters through
        the API), so the batch costs about twice the message alone, and a repeated sentence counts once.
        """
        seen = readable(message).strip()
        sentences = _unique([s for s in _SENTENCE_END.split(seen) if len(s.split()) >= 2])
        decoded = [seen] if seen != message.strip() else []
        return _unique([message, *decoded, *(sentences if len(sentences) > 1 else [])])

    def check(self, message: str, vectors: NDArray[np.float32] | None = None) -> CrisisVerdict:
        """``vectors`` are the embeddings of ``texts(message)`` when the caller already has them."""
        group = _pattern_hit(self._rules, message)
        if group is not None:
            return CrisisVerdict(True, group)
        if vectors is None:
            vectors = self._embedder.embed(self.texts(message))
        for row in np.asarray(vectors, dtype=np.float32).reshape(-1, self._crisis_vectors.shape[1]):
            crisis_scores = self._crisis_vectors @ row
            best = int(np.argmax(crisis_scores))
            calm = float(np.max(self._calm_vectors @ row)) if len(self._calm_vectors) else -1.0
            if crisis_scores[best] >= self._threshold and crisis_scores[best] > calm:
                example = self._rules.crisis[best]
                return CrisisVerdict(True, f"similar to: {example.text} ({example.group})")
        return CrisisVerdict(False, "no crisis pattern or similar example")
