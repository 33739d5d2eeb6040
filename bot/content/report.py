"""The content team's report: the index served, the knowledge files and their review dates, the
unanswered questions (redacted, grouped), the answers rated unhelpful and crisis counts per day.

The dashboard, ``GET /admin/report``, the CSV exports and the ``report`` command all show this.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.content.checks import is_stale
from bot.content.importing.review import WaitingDraft, waiting_drafts
from bot.index import Manifest
from bot.knowledge import Passage, load_knowledge
from bot.questionlog import QuestionGroup, QuestionLog
from bot.settings import Settings
from bot.storage import Storage

LISTS = ("files", "unanswered", "unhelpful", "crisis")
# A spreadsheet runs a cell that starts with one of these as a formula; visitor text must never run.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class IndexInfo:
    version: str
    built_at: str
    passage_count: int
    model: str


@dataclass(frozen=True)
class FileStatus:
    path: str
    title: str
    status: str  # approved, draft, or error when the file cannot be read
    reviewed_on: dt.date | None
    stale: bool
    passages: int


OPENING_WORDS = 12  # enough of a passage to know it again


@dataclass(frozen=True)
class UnhelpfulAnswer:
    answer_id: str
    section: str
    title: str
    unhelpful: int
    helpful: int
    opening: str = ""  # the passage's first words
    questions: tuple[QuestionGroup, ...] = ()  # what the visitors who said "No" had asked, redacted and grouped


def opening(text: str, count: int = OPENING_WORDS) -> str:
    """The first ``count`` words of a passage, and an ellipsis when there is more."""
    found = text.split()
    return " ".join(found[:count]) + (" …" if len(found) > count else "")


@dataclass(frozen=True)
class Report:
    index: IndexInfo | None
    files: tuple[FileStatus, ...]
    unanswered: tuple[QuestionGroup, ...]
    unhelpful: tuple[UnhelpfulAnswer, ...]
    crisis: tuple[tuple[str, int], ...]  # (day, count), newest first
    logging_questions: bool
    retention_days: int
    stale_after_days: int
    drafts: tuple[WaitingDraft, ...] = ()  # knowledge files waiting for an editor's review

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": None if self.index is None else vars(self.index),
            "files": [
                {**vars(f), "reviewed_on": f.reviewed_on.isoformat() if f.reviewed_on else None} for f in self.files
            ],
            "unanswered": [
                {
                    "question": g.text,
                    "count": g.count,
                    "first_seen": g.first_seen.isoformat(timespec="seconds"),
                    "last_seen": g.last_seen.isoformat(timespec="seconds"),
                }
                for g in self.unanswered
            ],
            "unhelpful": [
                {**vars(a), "questions": [{"question": g.text, "count": g.count} for g in a.questions]}
                for a in self.unhelpful
            ],
            "crisis_per_day": [{"day": day, "count": count} for day, count in self.crisis],
            "question_log": {"enabled": self.logging_questions, "retention_days": self.retention_days},
            "stale_after_days": self.stale_after_days,
            "drafts": [{**vars(d), "preview": list(d.preview)} for d in self.drafts],
        }

    def rows(self, name: str) -> list[list[str]]:
        """One list as CSV rows, header first."""
        data = self.as_dict()
        if name == "files":
            header = ["path", "title", "status", "reviewed_on", "stale", "passages"]
            records = data["files"]
        elif name == "unanswered":
            header = ["question", "count", "first_seen", "last_seen"]
            records = data["unanswered"]
        elif name == "unhelpful":
            header = ["answer_id", "section", "opening", "title", "unhelpful", "helpful"]
            records = data["unhelpful"]
        elif name == "crisis":
            header = ["day", "count"]
            records = data["crisis_per_day"]
        else:
            raise KeyError(name)
        return [header, *[[_cell(record[key]) for key in header] for record in records]]

    def csv(self, name: str) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerows(self.rows(name))
        return out.getvalue()


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def file_statuses(knowledge_dir: Path, stale_after_days: int, today: dt.date | None = None) -> list[FileStatus]:
    today = today or dt.date.today()
    knowledge = load_knowledge(knowledge_dir, today)
    statuses = [
        FileStatus(
            f.path, f.title, f.status, f.reviewed_on, is_stale(f.reviewed_on, today, stale_after_days), len(f.passages)
        )
        for f in knowledge.files
    ]
    readable = {f.path for f in knowledge.files}
    broken = sorted({p.path for p in knowledge.errors if p.path.endswith(".md") and p.path not in readable})
    statuses += [FileStatus(path, "", "error", None, False, 0) for path in broken]
    return sorted(statuses, key=lambda s: s.path)


def make_report(
    settings: Settings,
    storage: Storage,
    questions: QuestionLog,
    manifest: Manifest | None,
    passages: Sequence[Passage],
    today: dt.date | None = None,
) -> Report:
    by_id = {p.id: p for p in passages}
    unhelpful = tuple(
        UnhelpfulAnswer(
            r.answer_id,
            by_id[r.answer_id].section if r.answer_id in by_id else "(not in this index)",
            by_id[r.answer_id].title if r.answer_id in by_id else "",
            r.unhelpful,
            r.helpful,
            opening(by_id[r.answer_id].text) if r.answer_id in by_id else "",
            tuple(questions.unhelpful_groups(r.answer_id)),
        )
        for r in storage.ratings()
    )
    index = (
        None
        if manifest is None
        else IndexInfo(manifest.index_version, manifest.built_at, manifest.passage_count, manifest.model)
    )
    return Report(
        index=index,
        files=tuple(file_statuses(settings.knowledge_dir, settings.stale_after_days, today)),
        unanswered=tuple(questions.groups()),
        unhelpful=unhelpful,
        crisis=tuple(storage.crisis_counts().items()),
        logging_questions=settings.log_questions,
        retention_days=settings.question_retention_days,
        stale_after_days=settings.stale_after_days,
        drafts=tuple(waiting_drafts(settings.knowledge_dir, today)),
    )
