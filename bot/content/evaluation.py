"""The ``eval`` command: retrieval, fallback and crisis figures on an evaluation file (DESIGN.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.assistant import Assistant, ChatReply
from bot.text import fold

MRR_DEPTH = 10  # mrr@10: how far down the staff ranking a gold passage still counts
# Each figure, and the list whose count it is a share of.
FIGURES = {
    "recall@1": "in_scope",
    "recall@3": "in_scope",
    "mrr@10": "in_scope",
    "in_scope answered": "in_scope",
    "off_topic refused": "off_topic",
    "not_covered refused": "not_covered",
    "crisis recall": "crisis",
    "crisis false alarms": "not_crisis",
    "answer recall": "in_scope",  # replies whose shown passages hold a gold phrase
    "passages shown": "answered",  # a mean, over the in-scope questions answered
    "highlight accuracy": "best holds gold",  # the marked sentences hold the gold phrase
    "follow-up answered": "follow_up",
    "follow-up recall": "follow_up",  # with the earlier question sent along
    "follow-up recall alone": "follow_up",  # the same messages sent without it, for comparison
}


class EvalFileError(ValueError):
    pass


def has_gold(text: str, gold: Sequence[str]) -> bool:
    """Whether any gold phrase is in ``text``, case and quotes and white space folded."""
    folded = fold(text)
    return any(fold(phrase) in folded for phrase in gold)


def _found(reply: ChatReply, gold: Sequence[str]) -> bool:
    return any(has_gold(answer.passage.text, gold) for answer in reply.answers)


@dataclass(frozen=True)
class Miss:
    kind: str
    question: str
    got: str


@dataclass
class Scores:
    """The figures of an evaluation run (one file, or several merged) and the misses behind them."""

    counts: dict[str, int] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)  # each figure's numerator, over its list's count
    misses: list[Miss] = field(default_factory=list)

    @property
    def figures(self) -> dict[str, float]:
        return {name: total / self.counts[FIGURES[name]] for name, total in self.sums.items()}

    def add(self, name: str, total: float) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + total

    def merge(self, other: Scores) -> None:
        """Add another file's questions, so that figures are over all of them."""
        for list_name, count in other.counts.items():
            self.counts[list_name] = self.counts.get(list_name, 0) + count
        for name, total in other.sums.items():
            self.add(name, total)
        self.misses.extend(other.misses)

    def as_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "figures": self.figures, "misses": [asdict(m) for m in self.misses]}

    def lines(self) -> list[str]:
        out = [f"{name:<26} {value:.3f}" for name, value in self.figures.items()]
        out.append("counts: " + ", ".join(f"{k} {v}" for k, v in self.counts.items()))
        out.append(f"misses: {len(self.misses)}")
        out.extend(f"  [{m.kind}] {m.question!r} -> {m.got}" for m in self.misses)
        return out


def read_eval_file(path: Path) -> dict[str, list[Any]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise EvalFileError(f"{path}: cannot read: {error}") from error
    if not isinstance(data, dict):
        raise EvalFileError(f"{path}: must be a mapping of lists (in_scope, off_topic, ...)")
    for name in ("in_scope", "off_topic", "not_covered", "crisis", "not_crisis", "follow_up"):
        items = data.get(name) or []
        if not isinstance(items, list):
            raise EvalFileError(f"{path}: '{name}' must be a list")
        for item in items:
            valid = {"in_scope": _valid_in_scope, "follow_up": _valid_follow_up}.get(name, _is_text)(item)
            if not valid:
                raise EvalFileError(f"{path}: bad '{name}' item: {item!r}")
    return {k: list(v or []) for k, v in data.items()}


def _is_text(item: object) -> bool:
    return isinstance(item, str)


def _valid_follow_up(item: object) -> bool:
    history = item.get("history") if isinstance(item, dict) else None
    return (
        _valid_in_scope(item) and isinstance(history, list) and 1 <= len(history) <= 3 and all(map(_is_text, history))
    )


def _valid_in_scope(item: object) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("q"), str)
        and isinstance(item.get("gold"), list)
        and all(isinstance(g, str) for g in item["gold"])
        and bool(item["gold"])
    )


def evaluate(assistant: Assistant, data: dict[str, list[Any]]) -> Scores:
    report = Scores()
    in_scope = data.get("in_scope") or []
    if in_scope:
        hits1 = hits3 = answered = found = shown = best_holds_gold = marked_right = 0
        reciprocal = 0.0
        for item in in_scope:
            gold = [fold(g) for g in item["gold"]]
            results, _ = assistant.search(item["q"], MRR_DEPTH)
            rank = next((i + 1 for i, r in enumerate(results) if any(g in fold(r.passage.text) for g in gold)), None)
            hits1 += rank == 1
            hits3 += rank is not None and rank <= 3
            reciprocal += 1 / rank if rank else 0.0
            if rank != 1:
                top = results[0].passage.id if results else "nothing"
                report.misses.append(Miss("in_scope", item["q"], f"rank {rank or '>10'}, top {top}"))
            reply = assistant.chat(item["q"])
            answered += reply.matched
            if not reply.matched:
                report.misses.append(Miss("in_scope unanswered", item["q"], "crisis" if reply.crisis else "fallback"))
            found += _found(reply, item["gold"])
            shown += len(reply.answers)
            if reply.answers and has_gold(reply.answers[0].passage.text, item["gold"]):
                best_holds_gold += 1
                best = reply.answers[0]
                marked = " ".join(best.passage.text[start:end] for start, end in best.highlights)
                marked_right += has_gold(marked, item["gold"])
        report.counts.update({"in_scope": len(in_scope), "answered": answered, "best holds gold": best_holds_gold})
        report.sums.update({"recall@1": hits1, "recall@3": hits3, "mrr@10": reciprocal, "in_scope answered": answered})
        report.sums.update({"answer recall": found, "passages shown": shown, "highlight accuracy": marked_right})
    for name in ("off_topic", "not_covered"):
        items = data.get(name) or []
        if items:
            refused = 0
            for question in items:
                reply = assistant.chat(question)
                refused += not reply.matched
                if reply.matched:
                    report.misses.append(Miss(name, question, f"answered with {reply.answers[0].passage.id}"))
            report.counts[name] = len(items)
            report.sums[f"{name} refused"] = refused
    follow_ups = data.get("follow_up") or []
    if follow_ups:
        answered = found = alone = 0
        for item in follow_ups:
            reply = assistant.chat(item["q"], item["history"])
            answered += reply.matched
            found += _found(reply, item["gold"])
            alone += _found(assistant.chat(item["q"]), item["gold"])
            if not _found(reply, item["gold"]):
                got = reply.answers[0].passage.id if reply.answers else "fallback"
                report.misses.append(Miss("follow_up", f"{item['history'][-1]} -> {item['q']}", got))
        report.counts["follow_up"] = len(follow_ups)
        report.sums.update({"follow-up answered": answered, "follow-up recall": found, "follow-up recall alone": alone})
    for name, want_crisis in (("crisis", True), ("not_crisis", False)):
        items = data.get(name) or []
        if items:
            flagged = 0
            for message in items:
                reply = assistant.chat(message)
                flagged += reply.crisis
                if reply.crisis != want_crisis:
                    report.misses.append(Miss(name, message, "crisis" if reply.crisis else "no crisis"))
            report.counts[name] = len(items)
            report.sums["crisis recall" if want_crisis else "crisis false alarms"] = flagged
    return report


def eval_files(paths: list[Path]) -> list[Path]:
    """The evaluation files named, a folder standing for the YAML files in it."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml"}))
        elif path.is_file():
            found.append(path)
        else:
            raise EvalFileError(f"{path}: no such file or folder")
    if not found:
        raise EvalFileError(f"no evaluation files in {', '.join(map(str, paths))}")
    return found


# Short column names for the table of several files.
_COLUMNS = {
    "recall@1": "r@1",
    "recall@3": "r@3",
    "mrr@10": "mrr@10",
    "in_scope answered": "answered",
    "off_topic refused": "off-topic ref.",
    "not_covered refused": "not-covered ref.",
    "crisis recall": "crisis recall",
    "crisis false alarms": "false alarms",
    "answer recall": "answer recall",
    "passages shown": "shown",
    "highlight accuracy": "marked right",
    "follow-up recall": "follow-up recall",
}


def table(reports: dict[str, Scores]) -> list[str]:
    """One row a file and a total: each figure, with the number of questions behind it."""
    width = max(len(name) for name in reports)
    header = f"{'file':<{width}}  " + "  ".join(f"{label:>16}" for label in _COLUMNS.values())
    rows = [header]
    for name, report in reports.items():
        cells = []
        for figure in _COLUMNS:
            value = report.figures.get(figure)
            count = report.counts.get(FIGURES[figure], 0)
            cells.append(f"{value:.3f} ({count})" if value is not None else "-")
        rows.append(f"{name:<{width}}  " + "  ".join(f"{cell:>16}" for cell in cells))
    return rows
