"""``faqbot calibrate``: fit the scope model (bot/scope.py) on labelled evaluation files.

The questions in the files' ``in_scope`` lists are covered; those in ``off_topic`` and ``not_covered``
are not. The fit runs against an index built from the knowledge as it is now, and the file it writes
says what it was fitted on and what it does there, including, for each list of uncovered questions,
how much of it a model fitted without that list refuses: the figure that says whether the model
carries over to questions of a kind it has never seen.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from bot.assistant import MAX_ANSWERS, load_retriever, shown_answers
from bot.content.checks import Content, build_from
from bot.content.evaluation import eval_files, has_gold, read_eval_file
from bot.embedding import Embedder
from bot.index import content_hash
from bot.retrieval import Result, Retriever
from bot.scope import CALIBRATION_FILE, FEATURES, Example, ScopeModel, ScopeSignals, fit, write_calibration
from bot.settings import Settings

# Keep this share of the covered questions answered: a question the knowledge answers and the bot
# refuses costs a visitor a phone call; one it answers wrongly shows a passage that does not fit.
DEFAULT_KEEP = 0.98
# A reply shows at most this many passages on average over the covered questions: a phone shows one.
MEAN_SHOWN = 1.5
# A stand-in for the file being fitted, so that the index can be built before there is one.
_NEUTRAL = ScopeModel(tuple(0.0 for _ in FEATURES), 0.0, 0.5)


@dataclass(frozen=True)
class Calibration:
    model: ScopeModel
    summary: tuple[str, ...]


def read_examples(paths: list[Path]) -> list[Example]:
    examples = []
    for path in eval_files(paths):
        data = read_eval_file(path)
        for name in ("in_scope", "off_topic", "not_covered"):
            for item in data.get(name) or []:
                text, gold = (item["q"], tuple(item["gold"])) if name == "in_scope" else (item, ())
                examples.append(Example(text, name == "in_scope", f"{path.name}:{name}", gold))
    return examples


def measure(retriever: Retriever, examples: list[Example]) -> tuple[list[ScopeSignals], list[list[Result]]]:
    """The signals of each example, read exactly as a visitor's question is, and its best passages."""
    queries = [retriever.read(e.text) for e in examples]
    texts = [t for e, q in zip(examples, queries, strict=True) for t in (e.text, q.expanded)]
    vectors = retriever.embedder.embed(texts)
    signals, rankings = [], []
    for number, query in enumerate(queries):
        typed, expanded = vectors[2 * number], vectors[2 * number + 1]
        ranking = retriever.search(query, MAX_ANSWERS, expanded)
        signals.append(retriever.signals(query, ranking, retriever.scope(typed)))
        rankings.append(ranking)
    return signals, rankings


def fit_answer_margin(rankings: list[list[Result]], golds: list[tuple[str, ...]]) -> float:
    """The margin that shows a gold passage most often while replies show MEAN_SHOWN passages at most."""
    best, best_found = 0.0, -1
    for margin in (step / 100 for step in range(21)):
        shown = [shown_answers(ranking, margin) for ranking in rankings]
        if sum(map(len, shown)) > MEAN_SHOWN * len(shown):
            break
        found = sum(any(has_gold(r.passage.text, g) for r in answers) for answers, g in zip(shown, golds, strict=True))
        if found > best_found:
            best, best_found = margin, found
    return best


def calibrate(content: Content, embedder: Embedder, paths: list[Path], keep: float = DEFAULT_KEEP) -> Calibration:
    examples = read_examples(paths)
    if not any(e.covered for e in examples) or all(e.covered for e in examples):
        raise ValueError("calibration needs in_scope questions and off_topic or not_covered ones")
    neutral = tempfile.NamedTemporaryFile(suffix=".yaml")  # noqa: SIM115 - written, then read by the build
    with neutral, tempfile.TemporaryDirectory() as folder:
        write_calibration(Path(neutral.name), _NEUTRAL, [])
        files = {**content.release_files, CALIBRATION_FILE: Path(neutral.name).read_bytes()}
        build_from(replace(content, release_files=files), Path(folder) / "index", embedder)
        retriever = load_retriever(Settings(), embedder, Path(folder) / "index")
        signals, rankings = measure(retriever, examples)
    fitted = fit(signals, examples, keep)
    fitted_on = content_hash(content.knowledge.passages, content.synonyms, content.out_of_scope)
    golden = [i for i, e in enumerate(examples) if e.gold]
    margin = fit_answer_margin([rankings[i] for i in golden], [examples[i].gold for i in golden])
    model = replace(fitted, fitted_on=fitted_on, answer_margin=margin)
    return Calibration(model, tuple(_summary(model, signals, examples, keep)))


def _summary(model: ScopeModel, signals: list[ScopeSignals], examples: list[Example], keep: float) -> list[str]:
    lines = []
    for group in dict.fromkeys(e.group for e in examples):
        rows = [i for i, e in enumerate(examples) if e.group == group]
        covered = examples[rows[0]].covered
        share = sum(model.covered(signals[i]) == covered for i in rows) / len(rows)
        line = f"{group}: {len(rows)} questions, {'answered' if covered else 'refused'} {share:.3f}"
        if not covered:  # fitted without this list: how the model does on a kind of question it never saw
            rest = [i for i, e in enumerate(examples) if e.group != group]
            blind = fit([signals[i] for i in rest], [examples[i] for i in rest], keep)
            held_out = sum(not blind.covered(signals[i]) for i in rows) / len(rows)
            line += f" ({held_out:.3f} when left out of the fit)"
        lines.append(line)
    return lines
