"""The crisis gate: spots suicide and self-harm risk in a message before retrieval runs.

Two layers, both read from reviewable YAML in ``knowledge/safety/``. Word patterns a clinician can
read come first and always win. Then similarity to curated crisis examples catches paraphrases; a
closer calm counter-example (an idiom, a general question) may veto a similarity hit, never a pattern
hit, because a missed crisis is worse than a false alarm.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from numpy.typing import NDArray

from bot.embedding import Embedder

CRISIS_NOTICE = (
    "If you are thinking about suicide or about hurting yourself, you are not alone, and help is here right now. "
    "Call or text 988 (Suicide & Crisis Lifeline, US; press 2 for Spanish) or chat at 988lifeline.org. "
    "If you are in immediate danger, call 911. "
    "You can also text HOME to 741741 (Crisis Text Line). "
    "En español: llama al 988 y marca 2."
)

PATTERNS_FILE = "crisis-patterns.yaml"
EXAMPLES_FILE = "crisis-examples.yaml"
CALM_FILE = "not-crisis-examples.yaml"  # optional
# Cosine similarity (all-MiniLM-L6-v2) to the nearest crisis example that counts as a hit. On our own
# test messages, crisis paraphrases no pattern caught scored 0.53-0.96 and idioms and topic questions
# mostly under 0.55; the calm examples veto the rest. Lower it rather than raise it: a miss is worse.
SIMILARITY_THRESHOLD = 0.55
GAP_WORDS = 5  # what "..." in a pattern may skip
MAX_SENTENCES = 8  # long messages: score each sentence too, so one crisis line is not diluted

_APOSTROPHES = dict.fromkeys(map(ord, "'’‘`´ʼ′"), None)
_LEET = str.maketrans("013457@$!", "oieastasi")
# Leetspeak only inside words (k1ll, su1c1de, $uicide), so numbers ("988", "100 mg") stay numbers.
_LEET_INSIDE = re.compile(r"(?<=[a-z])[013457@$!]+(?=[a-z])|(?<![a-z0-9])[@$](?=[a-z])")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_STRETCHED = re.compile(r"([a-z])\1{2,}")
_TOKEN = re.compile(r"\.\.\.|[()\[\]|]|[^\s()\[\]|]+")
_WORD = re.compile(r"[a-z0-9](?:-?[a-z0-9])*\*?")
_GLUED = re.compile(r"[a-z0-9*.][(\[]|[)\]][a-z0-9.]")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")


def _fold(text: str) -> str:
    """Casefold, drop accents (más = mas) and apostrophes (don't = dont = don’t)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_APOSTROPHES)


def normalize(text: str) -> str:
    """Fold a message to space-separated plain words with a space at each end, as patterns expect."""
    folded = _LEET_INSIDE.sub(lambda m: m.group().translate(_LEET), _fold(text))
    return " " + " ".join(_NOT_WORD.sub(" ", folded).split()) + " "


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


@dataclass(frozen=True)
class _Rewrite:
    regex: re.Pattern[str]
    words: dict[str, str]  # variant (normalised, no edge spaces) -> the words patterns use

    def __call__(self, text: str) -> str:
        return self.regex.sub(lambda m: self.words[m.group()], text)


@dataclass(frozen=True)
class _Rules:
    groups: tuple[tuple[str, re.Pattern[str]], ...]
    rewrites: tuple[_Rewrite, ...]  # applied one on top of the other
    crisis: tuple[_Entry, ...]
    calm: tuple[_Entry, ...]


def _compose(path: Path, problems: list[str]) -> yaml.Node | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        problems.append(f"{path}:1: cannot read: {err}")
        return None
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else 1
        source = (text.splitlines() or [""])[min(line, len(text.splitlines())) - 1]
        # The likeliest slip in these files: YAML reads "- [so] sad" as a list and "- *x" as an alias.
        hint = " (a line that starts with [ or * needs quotes)" if re.match(r"\s*- *[\[*]", source) else ""
        problems.append(f"{path}:{line}: not valid YAML: {err.problem}{hint}")
    except yaml.YAMLError as err:
        problems.append(f"{path}:1: not valid YAML: {err}")
    return None


def _mapping(node: yaml.Node | None, path: Path, what: str, problems: list[str]) -> dict[str, tuple[int, yaml.Node]]:
    """Keys to (line of the key, value node)."""
    if not isinstance(node, yaml.MappingNode):
        problems.append(f"{path}:{node.start_mark.line + 1 if node else 1}: {what} must be a mapping")
        return {}
    return {str(key.value): (key.start_mark.line + 1, value) for key, value in node.value}


def _strings(node: yaml.Node | None, path: Path, what: str, problems: list[str]) -> list[_Entry]:
    if not isinstance(node, yaml.SequenceNode):
        problems.append(f"{path}:{node.start_mark.line + 1 if node else 1}: {what} must be a list")
        return []
    entries = []
    for item in node.value:
        if isinstance(item, yaml.ScalarNode) and str(item.value).strip():
            entries.append(_Entry(str(item.value).strip(), item.start_mark.line + 1))
        else:
            problems.append(f"{path}:{item.start_mark.line + 1}: empty or non-text entry in {what}")
    return entries


def _read_patterns(path: Path, problems: list[str]) -> tuple[list[tuple[str, re.Pattern[str]]], list[_Rewrite]]:
    root = _mapping(_compose(path, problems), path, "the file", problems)
    rewrites = []
    for section in ("spellings", "contractions"):  # both optional
        words: dict[str, str] = {}
        found = _mapping(root[section][1], path, section, problems) if section in root else {}
        for word, (_, variants) in found.items():
            for variant in _strings(variants, path, f"{section} of {word!r}", problems):
                key = normalize(variant.text).strip()
                if key == normalize(word).strip() or key in words:
                    problems.append(f"{path}:{variant.line}: {variant.text!r} is repeated or rewrites to itself")
                words[key] = normalize(word).strip()
        # Longest first, so "i am" is rewritten before a shorter variant inside it could be.
        alternatives = "|".join(map(re.escape, sorted(words, key=len, reverse=True))) or "(?!)"
        rewrites.append(_Rewrite(re.compile(f"(?<= )(?:{alternatives})(?= )"), words))
    groups = []
    for name, (line, node) in _mapping(root.get("groups", (1, None))[1], path, "groups", problems).items():
        fields = _mapping(node, path, f"group {name!r}", problems)
        if not str(getattr(fields.get("about", (0, None))[1], "value", "")).strip():
            problems.append(f"{path}:{line}: group {name!r} needs an `about:` line")
        regexes = []
        for entry in _strings(fields.get("patterns", (line, None))[1], path, f"patterns of {name!r}", problems):
            try:
                regexes.append(compile_pattern(entry.text).pattern)
            except (ValueError, re.error) as err:
                problems.append(f"{path}:{entry.line}: bad pattern {entry.text!r}: {err}")
        groups.append((name, re.compile("|".join(regexes) or "(?!)")))
    if not groups:
        problems.append(f"{path}:1: no pattern groups")
    return groups, rewrites


def _read_rules(folder: Path) -> tuple[_Rules, list[str]]:
    problems: list[str] = []
    groups, rewrites = _read_patterns(folder / PATTERNS_FILE, problems)
    crisis = _strings(_compose(folder / EXAMPLES_FILE, problems), folder / EXAMPLES_FILE, "the file", problems)
    calm_path = folder / CALM_FILE
    calm = _strings(_compose(calm_path, problems), calm_path, "the file", problems) if calm_path.exists() else []
    if not crisis:
        problems.append(f"{folder / EXAMPLES_FILE}:1: no crisis examples")
    rules = _Rules(tuple(groups), tuple(rewrites), tuple(crisis), tuple(calm))
    for entry in calm:  # patterns always win, so such a calm example could never count as calm
        if (group := _pattern_hit(rules, entry.text)) is not None:
            problems.append(f"{calm_path}:{entry.line}: matches the crisis pattern group {group!r}")
    return rules, problems


def _variants(rules: _Rules, message: str) -> set[str]:
    """The message as typed and after each rewrite pass, with stretched letters cut to one and to two."""
    text = normalize(message)
    variants = {text, _STRETCHED.sub(r"\1", text), _STRETCHED.sub(r"\1\1", text)}
    layer = variants
    for rewrite in rules.rewrites:
        layer = {rewrite(v) for v in layer}
        variants |= layer
    return variants


def _pattern_hit(rules: _Rules, message: str) -> str | None:
    texts = _variants(rules, message)
    return next((name for name, regex in rules.groups if any(regex.search(t) for t in texts)), None)


def check_safety_files(folder: Path) -> list[str]:
    """Problems in the safety data files as ``path:line: message``; empty when all is well."""
    return _read_rules(folder)[1]


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
            raise ValueError("crisis safety files have problems:\n" + "\n".join(problems))
        return cls(rules, embedder, threshold)

    def texts(self, message: str) -> list[str]:
        """What the gate embeds: the message, then each of its sentences when it has more than one."""
        sentences = [s for s in _SENTENCE_END.split(message.strip()) if len(s.split()) >= 2][:MAX_SENTENCES]
        return [message, *sentences] if len(sentences) > 1 else [message]

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
                return CrisisVerdict(True, f"similar to: {self._rules.crisis[best].text}")
        return CrisisVerdict(False, "no crisis pattern or similar example")
