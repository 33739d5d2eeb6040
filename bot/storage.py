"""What the service remembers: feedback on answers and crisis event counts. SQLite by default; any
SQLAlchemy URL (PostgreSQL for several replicas) works the same. Never the raw text of a question:
``questions`` keeps unanswered ones only after redaction (see ``bot.questionlog``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bot.questionlog import QuestionLog
from bot.schema import metadata, prepare

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("answer_id", sa.String(200), nullable=False, index=True),
    sa.Column("helpful", sa.Boolean, nullable=False),
    sa.Column("index_version", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

crisis_events = sa.Table(
    "crisis_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


@dataclass(frozen=True)
class AnswerRating:
    answer_id: str
    unhelpful: int
    helpful: int


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def database_url(setting: str) -> str:
    """A URL as SQLAlchemy takes it; a bare path means an SQLite file."""
    return setting if "://" in setting else f"sqlite:///{Path(setting).resolve()}"


def create_engine(setting: str) -> sa.Engine:
    """An engine for ``FAQBOT_DATABASE``. Each pooled connection is tested before use, so that a
    database that restarted costs one failed check, not one failed request per stale connection."""
    url = database_url(setting)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(url, pool_pre_ping=True)


class Storage:
    """Raises ``bot.schema.SchemaOutdated`` on a shared database that ``faqbot migrate`` has not brought
    up to this code's schema; an SQLite file is migrated in place."""

    def __init__(self, url: str, log_questions: bool = True, retention_days: int = 30) -> None:
        self.engine = create_engine(url)
        prepare(self.engine)
        self.questions = QuestionLog(self.engine, log_questions, retention_days)

    def add_feedback(self, answer_id: str, helpful: bool, index_version: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                feedback.insert().values(
                    answer_id=answer_id, helpful=helpful, index_version=index_version, created_at=now()
                )
            )

    def add_crisis_event(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(crisis_events.insert().values(created_at=now()))

    def ratings(self) -> list[AnswerRating]:
        """Answers rated unhelpful at least once, most unhelpful first."""
        unhelpful = sa.func.sum(sa.case((feedback.c.helpful.is_(False), 1), else_=0))
        helpful = sa.func.sum(sa.case((feedback.c.helpful.is_(True), 1), else_=0))
        query = (
            sa.select(feedback.c.answer_id, unhelpful.label("unhelpful"), helpful.label("helpful"))
            .group_by(feedback.c.answer_id)
            .having(unhelpful > 0)
            .order_by(unhelpful.desc(), feedback.c.answer_id)
        )
        with self.engine.connect() as connection:
            return [AnswerRating(r.answer_id, int(r.unhelpful), int(r.helpful)) for r in connection.execute(query)]

    def crisis_counts(self) -> dict[str, int]:
        """Crisis events per day (UTC), newest first: a number only, never a message."""
        with self.engine.connect() as connection:
            stamps = connection.execute(sa.select(crisis_events.c.created_at)).scalars().all()
        counts: dict[str, int] = {}
        for stamp in stamps:
            day = stamp.date().isoformat()
            counts[day] = counts.get(day, 0) + 1
        return dict(sorted(counts.items(), reverse=True))

    def close(self) -> None:
        self.engine.dispose()
