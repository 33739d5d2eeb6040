"""The content team's folder as a whole: knowledge files, synonyms and safety lists, checked together."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

from bot.embedding import Embedder
from bot.index import Manifest, build_index, content_hash
from bot.knowledge import KnowledgeBase, Problem, display_path, load_knowledge
from bot.query import OUT_OF_SCOPE_YAML, SYNONYMS_YAML, OutOfScope, load_out_of_scope, load_synonyms
from bot.safety import SAFETY_FOLDER, check_safety_files
from bot.scope import CALIBRATION_FILE, read_calibration


@dataclass(frozen=True)
class Content:
    knowledge: KnowledgeBase
    synonyms: dict[str, list[str]]
    out_of_scope: list[OutOfScope]
    release_files: dict[str, bytes]  # the scope calibration and the crisis lists, shipped in the index
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def read_content(knowledge_dir: Path, today: dt.date | None = None, stale_after_days: int | None = None) -> Content:
    """Read and check everything; with ``stale_after_days``, also warn about files not reviewed since."""
    knowledge = load_knowledge(knowledge_dir, today)
    stale = [] if stale_after_days is None else stale_problems(knowledge, knowledge_dir, stale_after_days, today)
    synonyms, synonym_problems = load_synonyms(knowledge_dir / SYNONYMS_YAML)
    out_of_scope, scope_problems = load_out_of_scope(knowledge_dir / OUT_OF_SCOPE_YAML)
    safety_problems = check_safety_files(knowledge_dir / SAFETY_FOLDER)
    list_problems = [
        replace(p, path=display_path(Path(p.path))) for p in (*synonym_problems, *scope_problems, *safety_problems)
    ]
    fitted_on = content_hash(knowledge.passages, synonyms, out_of_scope)
    scope = calibration_problems(knowledge_dir / CALIBRATION_FILE, fitted_on)
    problems = (*knowledge.problems, *stale, *list_problems, *scope)
    return Content(knowledge, synonyms, out_of_scope, release_files(knowledge_dir), problems)


def release_files(knowledge_dir: Path) -> dict[str, bytes]:
    """The files the index carries besides the passages, by their name inside the index folder."""
    names = [
        CALIBRATION_FILE,
        *(f"{SAFETY_FOLDER}/{p.name}" for p in sorted((knowledge_dir / SAFETY_FOLDER).glob("*.yaml"))),
    ]
    return {name: (knowledge_dir / name).read_bytes() for name in names if (knowledge_dir / name).is_file()}


def calibration_problems(path: Path, fitted_on: str) -> list[Problem]:
    """The scope calibration must be readable; a warning when the knowledge has changed since it was fitted."""
    model, problems = read_calibration(path)
    shown = [Problem(display_path(Path(p.path)), p.line, p.message, p.severity) for p in problems]
    if model is not None and model.fitted_on != fitted_on:
        message = "the scope calibration was fitted on other content: run 'faqbot calibrate' and review it"
        shown.append(Problem(display_path(path), 1, message, "warning", "calibration"))
    return shown


def is_stale(reviewed_on: dt.date | None, today: dt.date, stale_after_days: int) -> bool:
    return reviewed_on is not None and (today - reviewed_on).days > stale_after_days


def stale_problems(
    knowledge: KnowledgeBase, knowledge_dir: Path, stale_after_days: int, today: dt.date | None = None
) -> list[Problem]:
    """A warning for each file whose ``reviewed_on`` is older than the setting allows."""
    today = today or dt.date.today()
    problems = []
    for file in knowledge.files:
        if not is_stale(file.reviewed_on, today, stale_after_days):
            continue
        lines = (knowledge_dir / Path(file.path).name).read_text(encoding="utf-8").splitlines()
        line = next((n for n, text in enumerate(lines, start=1) if text.startswith("reviewed_on:")), 1)
        age = (today - file.reviewed_on).days if file.reviewed_on else 0
        message = f"reviewed_on {file.reviewed_on} is {age} days ago (over {stale_after_days}): review the file"
        problems.append(Problem(file.path, line, message, "warning", "stale"))
    return problems


def build(knowledge_dir: Path, index_dir: Path, embedder: Embedder, progress: bool = False) -> Manifest:
    """Check the content, then build the index; raises ``ContentError`` and builds nothing on errors."""
    return build_from(read_content(knowledge_dir), index_dir, embedder, progress)


def build_from(content: Content, index_dir: Path, embedder: Embedder, progress: bool = False) -> Manifest:
    """Build the index from content already read; raises ``ContentError`` and builds nothing on errors."""
    if content.errors:
        raise ContentError(content.errors)
    return build_index(
        content.knowledge,
        index_dir,
        embedder,
        content.synonyms,
        content.out_of_scope,
        content.release_files,
        progress=progress,
    )


class ContentError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
