"""Is a question covered by the knowledge base? A small calibrated model decides.

A score alone cannot tell "what is naproxen used for?" from a question the document answers: both
ask what a drug is for, so both find a passage. The model reads signals that carry over to questions
nobody listed:

- ``best_score`` and ``lexical``: how well the best passage matches (the fused score, its BM25 part);
- ``known`` and ``unknown``: the best cosine to anything the knowledge answers (a passage or one of its
  alternate questions) and to an example in ``knowledge/out-of-scope.yaml``;
- ``foreign_words`` and ``rarest_foreign``: how many of the question's content words the knowledge base
  never uses, and how rare the rarest of them is in everyday English (``wordfreq``): "naproxen",
  "migraines" and "timer" mark another subject, "expect" or "visit" hardly do;
- ``covered_by_best``: the share of the question's content words that the best passage uses.

``faqbot calibrate`` fits a logistic regression over them on labelled evaluation files and writes its
weights and threshold to ``knowledge/scope-calibration.yaml``, a file an editor can read and review.
The build copies it into the index, so the index version covers it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import Stemmer
import yaml
from numpy.typing import NDArray
from wordfreq import zipf_frequency

from bot.knowledge import Passage, Problem
from bot.query import STOP_WORDS, QueryReader, words

CALIBRATION_FILE = "scope-calibration.yaml"
FEATURES = ("best_score", "lexical", "known", "unknown", "foreign_words", "rarest_foreign", "covered_by_best")
# wordfreq's Zipf scale: 7 is "the", about 3 a word seen once in a million; 0 a word it never saw.
MOST_COMMON_ZIPF = 7.0
_STEMMER = Stemmer.Stemmer("english")


def stem(word: str) -> str:
    return str(_STEMMER.stemWord(word))


@dataclass(frozen=True)
class ScopeSignals:
    """What the model reads about one question; each field is one of ``FEATURES``."""

    best_score: float
    lexical: float
    known: float
    unknown: float
    foreign_words: float  # log(1 + the number of content words the knowledge base never uses)
    rarest_foreign: float  # 7 minus the Zipf frequency of the rarest of them; 0 when there are none
    covered_by_best: float

    def vector(self) -> NDArray[np.float64]:
        return np.array([getattr(self, name) for name in FEATURES], dtype=np.float64)


class Vocabulary:
    """The knowledge base's words, as stems, to tell a question's own words from foreign ones."""

    def __init__(self, passages: Sequence[Passage], synonyms: dict[str, list[str]], reader: QueryReader) -> None:
        self.reader = reader
        self._passages = [
            frozenset(stem(w) for text in (p.title, p.section, *p.headings, p.text, *p.questions) for w in words(text))
            for p in passages
        ]
        lay = {stem(w) for phrase, terms in synonyms.items() for text in (phrase, *terms) for w in words(text)}
        self._all = frozenset().union(lay, *self._passages)

    def content_words(self, text: str) -> list[str]:
        """The words that say what a question is about, with misspellings mended."""
        found = [w for w in words(text) if w not in STOP_WORDS and not w.isdigit() and len(w) > 1]
        return [self.reader.mend(w) or w for w in found]

    def signals(
        self, text: str, best: int | None, best_score: float, lexical: float, known: float, unknown: float
    ) -> ScopeSignals:
        """The signals for a question whose best passage is ``best`` (its row in the index)."""
        content = self.content_words(text)
        foreign = [w for w in content if stem(w) not in self._all]
        rarest = max((MOST_COMMON_ZIPF - zipf_frequency(w, "en") for w in foreign), default=0.0)
        in_best = self._passages[best] if best is not None else frozenset()
        covered = sum(stem(w) in in_best for w in content) / len(content) if content else 1.0
        return ScopeSignals(best_score, lexical, known, unknown, math.log1p(len(foreign)), rarest, covered)


@dataclass(frozen=True)
class ScopeModel:
    """A logistic regression over ``FEATURES``: covered when its probability reaches ``threshold`` and
    the best passage is no further than any covered question of the calibration set was.

    The floors are there because a sum of weighted signals can be talked into "covered" by a question
    with no words of substance at all ("okay then", "say that again"): nothing foreign in it, nothing to
    hold against it. The floors need evidence for the knowledge, not only none against it.
    """

    weights: tuple[float, ...]
    bias: float
    threshold: float
    least_best_score: float = -1.0
    least_known: float = -1.0
    # Refused when this much closer (or more) to an out-of-scope example than to the knowledge: the list
    # names what the document does not answer, and a question about costs still mentions sessions.
    out_of_scope_margin: float = 2.0
    # A second or third passage is shown only when it scores this close to the one shown before it.
    answer_margin: float = 0.0
    fitted_on: str = ""  # the content hash of the knowledge it was fitted on

    def probability(self, signals: ScopeSignals) -> float:
        return float(1.0 / (1.0 + np.exp(-(self.bias + float(np.dot(self.weights, signals.vector()))))))

    def covered(self, signals: ScopeSignals) -> bool:
        if signals.best_score < self.least_best_score or signals.known < self.least_known:
            return False
        if signals.unknown - signals.known >= self.out_of_scope_margin:
            return False
        return self.probability(signals) >= self.threshold


# The calibration file's numbers besides the weights, and the range each must lie in.
_SETTINGS = {
    "bias": (-math.inf, math.inf),
    "threshold": (0.0, 1.0),
    "least_best_score": (-1.0, 1.0),
    "least_known": (-1.0, 1.0),
    "out_of_scope_margin": (-2.0, 2.0),
    "answer_margin": (0.0, 1.0),
}


def _keys(node: yaml.Node | None) -> dict[str, tuple[int, yaml.Node]] | None:
    """A YAML mapping's keys, each with its line and its value; None when it is no mapping."""
    if not isinstance(node, yaml.MappingNode):
        return None
    return {str(key.value): (key.start_mark.line + 1, value) for key, value in node.value}


def read_calibration(path: Path) -> tuple[ScopeModel | None, list[Problem]]:
    """Read a calibration file, reporting each problem on its line."""
    where = str(path)
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except OSError as error:
        return None, [Problem(where, 1, f"cannot read the scope calibration: {error}; run 'faqbot calibrate'")]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        message = f"not valid YAML: {getattr(error, 'problem', error)}"
        return None, [Problem(where, mark.line + 1 if mark else 1, message)]
    fields = _keys(node)
    if fields is None:
        return None, [Problem(where, 1, "must be a mapping with weights, bias and threshold")]
    problems: list[Problem] = []

    def number(name: str, entry: tuple[int, yaml.Node | None], low: float, high: float) -> float:
        line, value = entry
        try:
            result = float(value.value) if isinstance(value, yaml.ScalarNode) else math.nan
        except ValueError:
            result = math.nan
        if not low <= result <= high:  # NaN fails too
            bounds = "a number" if math.isinf(low) else f"a number from {low:g} to {high:g}"
            problems.append(Problem(where, line, f"{name} must be {bounds}"))
        return result

    settings = {name: number(name, fields.get(name, (1, None)), *bounds) for name, bounds in _SETTINGS.items()}
    weights_line = fields.get("weights", (1, None))[0]
    weights = _keys(fields.get("weights", (1, None))[1])
    if weights is None:
        problems.append(Problem(where, weights_line, "weights must map each signal to a number"))
        weights = {}
    for name in sorted(weights.keys() - set(FEATURES)):
        problems.append(Problem(where, weights[name][0], f"unknown signal {name!r} (known: {', '.join(FEATURES)})"))
    missing = [name for name in FEATURES if name not in weights]
    if missing and weights:
        problems.append(Problem(where, weights_line, f"weights has no {', '.join(missing)}"))
    values = tuple(number(f"weights.{n}", weights[n], -math.inf, math.inf) for n in FEATURES if n in weights)
    if problems:
        return None, problems
    fitted_on = str(getattr(fields.get("fitted_on", (1, None))[1], "value", ""))
    return ScopeModel(values, fitted_on=fitted_on, **settings), []


@dataclass(frozen=True)
class Example:
    """A labelled question for calibration: ``covered`` is whether the knowledge answers it."""

    text: str
    covered: bool
    group: str  # the file and list it came from; each group weighs the same in the fit
    gold: tuple[str, ...] = ()  # phrases of the passage that answers it, for a covered question


def fit(signals: Sequence[ScopeSignals], examples: Sequence[Example], keep: float) -> ScopeModel:
    """Fit the model; the threshold is the highest that still answers ``keep`` of the covered examples.

    Each group (a file's list) weighs the same within its class, so 2,000 assistant requests do not
    drown 300 medicine questions, and the two classes weigh the same in all.
    """
    from sklearn.linear_model import LogisticRegression  # only the calibrate command needs it

    matrix = np.vstack([s.vector() for s in signals])
    labels = np.array([e.covered for e in examples])
    weights = np.zeros(len(examples))
    for label in (True, False):
        groups = sorted({e.group for e in examples if e.covered == label})
        for group in groups:
            rows = [i for i, e in enumerate(examples) if e.group == group and e.covered == label]
            weights[rows] = 1.0 / (len(groups) * len(rows))
    model = LogisticRegression(C=1.0, max_iter=5000).fit(matrix, labels, sample_weight=weights * len(examples))
    covered = [s for s, e in zip(signals, examples, strict=True) if e.covered]
    least_best = math.floor(min(s.best_score for s in covered) * 100) / 100
    least_known = math.floor(min(s.known for s in covered) * 100) / 100
    fitted = ScopeModel(tuple(float(w) for w in model.coef_[0]), float(model.intercept_[0]), 0.5)
    allowed_misses = math.floor((1.0 - keep) * len(covered))
    threshold = sorted(fitted.probability(s) for s in covered)[allowed_misses]
    # Past the gap of the covered questions kept, in steps of 0.05 so the file reads cleanly.
    gap = sorted((s.unknown - s.known for s in covered), reverse=True)[allowed_misses]
    return replace(
        fitted,
        threshold=math.floor(threshold * 1000) / 1000,  # just under the last covered question kept
        least_best_score=least_best,
        least_known=least_known,
        out_of_scope_margin=round(math.floor(gap / 0.05 + 1) * 0.05, 2),
    )


def write_calibration(path: Path, model: ScopeModel, summary: Iterable[str]) -> None:
    lines = [
        "# How the bot decides whether the knowledge base covers a question (bot/scope.py).",
        "# Written by `faqbot calibrate`: run it again after changing the knowledge, the out-of-scope list or",
        "# the evaluation sets, then review the figures below before committing this file.",
        "# A question is answered when 1 / (1 + exp(-(bias + sum of weight x signal))) >= threshold, and its",
        "# best_score and known signals reach least_best_score and least_known (the least any covered one had),",
        "# and it is not out_of_scope_margin closer (unknown - known) to an out-of-scope example than to the",
        "# knowledge.",
        f"fitted_on: {model.fitted_on}  # the content hash of the knowledge it was fitted on",
        f"threshold: {model.threshold}",
        f"least_best_score: {model.least_best_score}  # refused below this, whatever the rest says",
        f"least_known: {model.least_known}",
        f"out_of_scope_margin: {model.out_of_scope_margin}  # refused this much closer to out-of-scope.yaml",
        f"answer_margin: {model.answer_margin}  # a 2nd or 3rd passage is shown only this close to the one before it",
        f"bias: {model.bias:.4f}",
        "weights:",
        *(f"  {name}: {weight:.4f}" for name, weight in zip(FEATURES, model.weights, strict=True)),
        "# Fitted on, and what it does there:",
        *(f"#   {line}" for line in summary),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
