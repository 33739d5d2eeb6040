"""What the service remembers: feedback on answers and crisis event counts. SQLite by default; any
SQLAlchemy URL (PostgreSQL for several replicas) works the same. Never the raw text of a question:
``questions`` keeps unanswered ones only after redaction (see ``bot.questionlog``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bot.questionlog import MAX_KEY, QuestionLog
from bot.schema import metadata, prepare
from bot.wording import moment

MAX_EDITOR = 100  # an editor's name as they type it when marking a group handled

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("answer_id", sa.String(200), nullable=False, index=True),
    sa.Column("helpful", sa.Boolean, nullable=False),
    sa.Column("index_version", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # A random id the page makes for each reply (never the visitor's address): one vote per answer and
    # voter, the second replacing the first. Votes sent without one (plain API clients) are each a row.
    sa.Column("voter", sa.String(64), nullable=True),
    sa.Index("ix_feedback_answer_voter", "answer_id", "voter", unique=True),
)

crisis_events = sa.Table(
    "crisis_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

# Editors' sessions on the dashboard. The cookie's value is never stored: ``key`` is a keyed hash of it
# (``bot.web.sessions``), so signing out (deleting the row) ends the session on every replica.
admin_sessions = sa.Table(
    "admin_sessions",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


# An editor marks a group of unanswered questions handled: who, and when. Questions asked after that
# open the group again.
handled_questions = sa.Table(
    "handled_questions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("group_key", sa.String(MAX_KEY), nullable=False, index=True),
    sa.Column("handled_by", sa.String(MAX_EDITOR), nullable=False),
    sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
)

# How many replies each day, by outcome: a count only, for the dashboard's trends. Counted in memory and
# added here once a minute (``flush_counts``), so that answering never waits for the database.
reply_counts = sa.Table(
    "reply_counts",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("outcome", sa.String(16), primary_key=True),  # one of OUTCOMES
    sa.Column("count", sa.Integer, nullable=False),
)
OUTCOMES = ("answered", "unanswered", "crisis")
FLUSH_SECONDS = 60


@dataclass(frozen=True)
class Handled:
    by: str
    at: dt.datetime


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
        private_file(Path(url.removeprefix("sqlite:///")))
    # A database host that does not answer fails a request within seconds instead of holding it for minutes.
    connect_args = {"connect_timeout": 5} if url.startswith("postgresql") else {}
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def private_file(path: Path) -> None:
    """Make the SQLite file (and its folder) before SQLite does, readable by the service's user only:
    it holds feedback and redacted questions. SQLite gives its journal files the same mode."""
    if str(path) in ("", ":memory:"):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    path.chmod(0o600)  # a file made by an older version was readable by everyone


class Storage:
    """Raises ``bot.schema.SchemaOutdated`` on a shared database that ``faqbot migrate`` has not brought
    up to this code's schema; an SQLite file is migrated in place."""

    def __init__(self, url: str, log_questions: bool = True, retention_days: int = 30) -> None:
        self.engine = create_engine(url)
        prepare(self.engine)
        self.questions = QuestionLog(self.engine, log_questions, retention_days)
        self.retention = dt.timedelta(days=retention_days)
        self._pending: Counter[tuple[dt.date, str]] = Counter()
        self._pending_lock = threading.Lock()

    def add_feedback(
        self, answer_id: str, helpful: bool, index_version: str, voter: str | None = None, at: dt.datetime | None = None
    ) -> None:
        """Store a vote; a voter's second vote on an answer replaces the first."""
        values = {"helpful": helpful, "index_version": index_version, "created_at": at or now()}
        mine = (feedback.c.answer_id == answer_id) & (feedback.c.voter == voter)
        with self.engine.begin() as connection:
            if voter is not None and connection.execute(feedback.update().where(mine).values(**values)).rowcount:
                return
            connection.execute(feedback.insert().values(answer_id=answer_id, voter=voter, **values))

    def recent_votes(self, answer_id: str, seconds: int) -> int:
        """How many votes ``answer_id`` got in the last ``seconds``, by all visitors together."""
        since = now() - dt.timedelta(seconds=seconds)
        query = sa.select(sa.func.count()).where((feedback.c.answer_id == answer_id) & (feedback.c.created_at >= since))
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def open_session(self, key: str, expires_at: dt.datetime) -> None:
        with self.engine.begin() as connection:
            connection.execute(admin_sessions.insert().values(key=key, expires_at=expires_at))

    def session_open(self, key: str) -> bool:
        """Whether the session ``key`` exists and has not expired."""
        query = sa.select(admin_sessions.c.key).where(
            (admin_sessions.c.key == key) & (admin_sessions.c.expires_at > now())
        )
        with self.engine.connect() as connection:
            return connection.execute(query).first() is not None

    def end_session(self, key: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(admin_sessions.delete().where(admin_sessions.c.key == key))

    def purge(self, at: dt.datetime | None = None) -> None:
        """Drop what is past retention: questions, votes and crisis counts alike, and expired sessions."""
        moment = at or now()
        cutoff = moment - self.retention
        self.questions.purge(moment)
        with self.engine.begin() as connection:
            connection.execute(feedback.delete().where(feedback.c.created_at < cutoff))
            connection.execute(crisis_events.delete().where(crisis_events.c.created_at < cutoff))
            connection.execute(admin_sessions.delete().where(admin_sessions.c.expires_at <= moment))

    async def purge_daily(self) -> None:
        """Purge now, then once a day, for as long as the server runs."""
        while True:
            await asyncio.to_thread(self.purge)
            await asyncio.sleep(24 * 60 * 60)

    def add_crisis_event(self, at: dt.datetime | None = None) -> None:
        with self.engine.begin() as connection:
            connection.execute(crisis_events.insert().values(created_at=at or now()))

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

    def mark_handled(self, keys: Iterable[str], by: str, at: dt.datetime | None = None) -> None:
        """Record that ``by`` handled the question groups ``keys`` (``QuestionGroup.key``)."""
        rows = [{"group_key": key, "handled_by": by[:MAX_EDITOR], "handled_at": at or now()} for key in set(keys)]
        if rows:
            with self.engine.begin() as connection:
                connection.execute(handled_questions.insert(), rows)

    def handled(self) -> dict[str, Handled]:
        """The latest time each question group was marked handled, and by whom."""
        query = sa.select(handled_questions).order_by(handled_questions.c.handled_at, handled_questions.c.id)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return {row.group_key: Handled(row.handled_by, moment(row.handled_at)) for row in rows}

    def count_reply(self, outcome: str) -> None:
        """Count one reply (``answered``, ``unanswered`` or ``crisis``) in memory; ``flush_counts`` stores it."""
        with self._pending_lock:
            self._pending[(now().date(), outcome)] += 1

    def flush_counts(self) -> None:
        """Add the replies counted in memory to ``reply_counts``; several processes may add at once."""
        with self._pending_lock:
            pending, self._pending = self._pending, Counter()
        for (day, outcome), count in sorted(pending.items()):
            try:
                self._add_count(day, outcome, count)
            except sa.exc.SQLAlchemyError:  # the database is away: keep the count for the next flush
                with self._pending_lock:
                    self._pending[(day, outcome)] += count

    def _add_count(self, day: dt.date, outcome: str, count: int) -> None:
        table = reply_counts
        where = (table.c.day == day) & (table.c.outcome == outcome)
        add = table.update().where(where).values(count=table.c.count + count)
        with self.engine.begin() as connection:
            if connection.execute(add).rowcount:
                return
        try:
            with self.engine.begin() as connection:
                connection.execute(table.insert().values(day=day, outcome=outcome, count=count))
        except sa.exc.IntegrityError:  # another process inserted the day first
            with self.engine.begin() as connection:
                connection.execute(add)

    async def flush_counts_every(self, seconds: float = FLUSH_SECONDS) -> None:
        while True:
            await asyncio.sleep(seconds)
            await asyncio.to_thread(self.flush_counts)

    def replies_per_day(self, since: dt.date) -> dict[dt.date, dict[str, int]]:
        """Replies each day from ``since`` (UTC days), by outcome, this process's latest included."""
        self.flush_counts()
        table = reply_counts
        query = sa.select(table.c.day, table.c.outcome, table.c.count).where(table.c.day >= since)
        days: dict[dt.date, dict[str, int]] = {}
        with self.engine.connect() as connection:
            for day, outcome, count in connection.execute(query):
                days.setdefault(day, {})[outcome] = int(count)
        return days

    def feedback_per_day(self, since: dt.date) -> dict[dt.date, tuple[int, int]]:
        """Votes each day from ``since`` (UTC days): (helpful, unhelpful)."""
        start = dt.datetime.combine(since, dt.time(), dt.UTC)
        query = sa.select(feedback.c.created_at, feedback.c.helpful).where(feedback.c.created_at >= start)
        days: dict[dt.date, tuple[int, int]] = {}
        with self.engine.connect() as connection:
            for stamp, helpful in connection.execute(query):
                yes, no = days.get(moment(stamp).date(), (0, 0))
                days[moment(stamp).date()] = (yes + 1, no) if helpful else (yes, no + 1)
        return days

    def crisis_per_day(self, since: dt.date) -> dict[dt.date, int]:
        return {
            day: count
            for day, count in ((dt.date.fromisoformat(d), n) for d, n in self.crisis_counts().items())
            if day >= since
        }

    def close(self) -> None:
        self.flush_counts()
        self.engine.dispose()
