"""The question log: what visitors asked that had no vetted answer, redacted, grouped and short-lived.

Only unanswered questions that were not crisis messages are kept, and only after ``redact``; the
raw text is never written. A question whose answer the visitor rated "not helpful" is kept the same
way, beside the answer's id, so that the content team sees what the passage failed to answer. Each
question is one row with its time, so that retention is exact: ``purge`` drops every row older than the
retention period, whatever group it belongs to.
SQLAlchemy Core, like ``bot.storage``, so a PostgreSQL URL works for several replicas; the tables are made
by a migration (``bot.schema``).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import Stemmer

from bot.query import STOP_WORDS, words
from bot.redaction import PLACEHOLDER, redact
from bot.schema import metadata

MAX_TEXT = 600
MAX_KEY = 400
_STEMMER = Stemmer.Stemmer("english")

question_log = sa.Table(
    "question_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("group_key", sa.String(MAX_KEY), nullable=False, index=True),
    sa.Column("text", sa.String(MAX_TEXT), nullable=False),  # redacted
    sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

unhelpful_questions = sa.Table(
    "unhelpful_questions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("answer_id", sa.String(200), nullable=False, index=True),
    sa.Column("group_key", sa.String(MAX_KEY), nullable=False),
    sa.Column("text", sa.String(MAX_TEXT), nullable=False),  # redacted
    sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


@dataclass(frozen=True)
class QuestionGroup:
    """Similar unanswered questions: the latest wording (redacted), how often, first and last seen."""

    text: str
    count: int
    first_seen: dt.datetime
    last_seen: dt.datetime
    key: str = ""  # what the wordings share (``group_key``); an editor marks a group handled by it


def group_key(text: str) -> str:
    """Questions that differ only in case, punctuation, word order, stop words or word endings share a key."""
    text = PLACEHOLDER.sub(" ", text)
    stems = sorted(set(_STEMMER.stemWords([w for w in words(text) if w not in STOP_WORDS])))
    key = " ".join(stems) or " ".join(words(text)) or text.strip().casefold()
    return key[:MAX_KEY]


def _utc(stamp: dt.datetime) -> dt.datetime:
    # SQLite gives naive datetimes back; everything here is written in UTC.
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def fair_share(rows: Sequence[sa.Row[Any]], limit: int) -> list[sa.Row[Any]]:
    """The groups to show, at most ``limit``: those asked more than once, the most asked first; then
    questions asked once, taken in turn from each hour they were asked in, newest first. A burst of
    questions within one hour takes its turn with every other hour instead of pushing them all out.
    ``rows`` come most asked first, then most recent (each with ``asked`` and ``last_seen``)."""
    repeated = [row for row in rows if row.asked > 1][:limit]
    hours: dict[dt.datetime, list[sa.Row[Any]]] = {}
    for row in rows:
        if row.asked == 1:
            hours.setdefault(_utc(row.last_seen).replace(minute=0, second=0, microsecond=0), []).append(row)
    once: list[sa.Row[Any]] = []
    for turn in itertools.zip_longest(*(hours[hour] for hour in sorted(hours, reverse=True))):
        once.extend(row for row in turn if row is not None)
    chosen = repeated + once[: limit - len(repeated)]
    return sorted(chosen, key=lambda row: (-row.asked, -_utc(row.last_seen).timestamp()))


def _grouped(table: sa.Table, where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """``table``'s rows by group: how often asked, first and last seen, the latest row; most asked first."""
    count = sa.func.count().label("asked")
    last = sa.func.max(table.c.asked_at).label("last_seen")
    first = sa.func.min(table.c.asked_at).label("first_seen")
    latest_id = sa.func.max(table.c.id).label("latest_id")
    return (
        sa.select(table.c.group_key, count, first, last, latest_id)
        .where(where)
        .group_by(table.c.group_key)
        .order_by(count.desc(), last.desc())
    )


def _with_texts(connection: sa.Connection, table: sa.Table, rows: Sequence[sa.Row[Any]]) -> list[QuestionGroup]:
    """The groups of ``rows`` (from ``_grouped``), each shown by its latest wording."""
    selected = sa.select(table.c.id, table.c.text).where(table.c.id.in_([row.latest_id for row in rows]))
    texts = {row.id: row.text for row in connection.execute(selected)}
    return [
        QuestionGroup(texts[row.latest_id], int(row.asked), _utc(row.first_seen), _utc(row.last_seen), row.group_key)
        for row in rows
    ]


class QuestionLog:
    """Writes and reads the log on an SQLAlchemy engine; does nothing at all when ``enabled`` is off."""

    def __init__(self, engine: sa.Engine, enabled: bool = True, retention_days: int = 30) -> None:
        self.engine = engine
        self.enabled = enabled
        self.retention = dt.timedelta(days=retention_days)

    def record(self, message: str, now: dt.datetime | None = None) -> None:
        """Keep an unanswered question, redacted. The caller decides that it was unanswered."""
        if not self.enabled:
            return
        text = redact(message)[:MAX_TEXT]
        if not text:
            return
        with self.engine.begin() as connection:
            connection.execute(
                question_log.insert().values(
                    group_key=group_key(text), text=text, asked_at=now or dt.datetime.now(dt.UTC)
                )
            )

    def record_unhelpful(self, answer_id: str, message: str, now: dt.datetime | None = None) -> None:
        """Keep, redacted, the question whose answer ``answer_id`` a visitor rated not helpful."""
        text = redact(message)[:MAX_TEXT] if self.enabled else ""
        if not text:
            return
        values = {"group_key": group_key(text), "text": text, "asked_at": now or dt.datetime.now(dt.UTC)}
        with self.engine.begin() as connection:
            connection.execute(unhelpful_questions.insert().values(answer_id=answer_id, **values))

    def purge(self, now: dt.datetime | None = None) -> int:
        """Delete what is past retention (everything, when logging is off); returns how many rows went."""
        gone = 0
        with self.engine.begin() as connection:
            for table in (question_log, unhelpful_questions):
                statement = table.delete()
                if self.enabled:
                    cutoff = (now or dt.datetime.now(dt.UTC)) - self.retention
                    statement = statement.where(table.c.asked_at < cutoff)
                gone += int(connection.execute(statement).rowcount or 0)
        return gone

    def unhelpful_groups(self, answer_id: str, limit: int = 5, now: dt.datetime | None = None) -> list[QuestionGroup]:
        """The questions that led visitors to rate ``answer_id`` not helpful, as groups, most asked first."""
        cutoff = (now or dt.datetime.now(dt.UTC)) - self.retention
        table = unhelpful_questions
        query = _grouped(table, (table.c.answer_id == answer_id) & (table.c.asked_at >= cutoff)).limit(limit)
        with self.engine.connect() as connection:
            return _with_texts(connection, table, connection.execute(query).all())

    def groups(self, limit: int = 200, now: dt.datetime | None = None) -> list[QuestionGroup]:
        """The most asked groups first, then the most recent; nothing past retention, even before a purge."""
        cutoff = (now or dt.datetime.now(dt.UTC)) - self.retention
        with self.engine.connect() as connection:
            rows = connection.execute(_grouped(question_log, question_log.c.asked_at >= cutoff)).all()
            return _with_texts(connection, question_log, fair_share(rows, limit))

    def asked_at(self, now: dt.datetime | None = None) -> list[dt.datetime]:
        """When each kept question was asked (within retention), for totals per day and per week."""
        cutoff = (now or dt.datetime.now(dt.UTC)) - self.retention
        query = sa.select(question_log.c.asked_at).where(question_log.c.asked_at >= cutoff)
        with self.engine.connect() as connection:
            return [_utc(stamp) for stamp in connection.execute(query).scalars()]

    def total(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(question_log)).scalar_one())
