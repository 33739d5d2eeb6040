"""Releases kept in the database, for a fleet whose machines share no folder.

A release is a whole built index (the FAISS files, the passages, the manifest and the safety lists it
carries), stored file by file under its ``index_version``. ``release_history`` says which release is
current: the newest row, written by ``publish`` or ``rollback``, which also send a PostgreSQL
notification on ``CHANNEL`` so that replicas need not wait for their next poll. Each replica records
which version it serves and since when, and every release it refused with the reason. ``prune`` deletes
the releases no one can need any more; the history keeps its rows, so a pruned version is still named.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bot.index import MANIFEST_FILE, README_FILE, IndexRefused, Manifest, read_manifest
from bot.schema import metadata

CHANNEL = "faqbot_release"
LOCK = 0x66617162  # PostgreSQL's advisory lock held while a release is made current or releases are pruned
MAX_NAME = 200
MAX_VERSION = 64

releases = sa.Table(
    "releases",
    metadata,
    sa.Column("index_version", sa.String(MAX_VERSION), primary_key=True),
    sa.Column("manifest", sa.Text, nullable=False),
    sa.Column("passage_count", sa.Integer, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),  # bytes, all files together
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
)

release_files = sa.Table(
    "release_files",
    metadata,
    sa.Column(
        "index_version",
        sa.String(MAX_VERSION),
        sa.ForeignKey("releases.index_version", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("path", sa.String(MAX_NAME), primary_key=True),
    sa.Column("content", sa.LargeBinary, nullable=False),
)

release_history = sa.Table(
    "release_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # No foreign key: a pruned release leaves the releases table, its history stays (revision 0007).
    sa.Column("index_version", sa.String(MAX_VERSION), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # publish or rollback
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

replicas = sa.Table(
    "replicas",
    metadata,
    sa.Column("name", sa.String(MAX_NAME), primary_key=True),
    sa.Column("index_version", sa.String(MAX_VERSION), nullable=False),
    sa.Column("serving_since", sa.DateTime(timezone=True), nullable=False),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
)

release_refusals = sa.Table(
    "release_refusals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("replica", sa.String(MAX_NAME), nullable=False),
    sa.Column("index_version", sa.String(MAX_VERSION), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


@dataclass(frozen=True)
class StoredRelease:
    index_version: str
    passage_count: int
    size: int
    published_at: dt.datetime


@dataclass(frozen=True)
class Kept:
    """A release ``prune`` keeps, and why: current, made current recently, served by a replica."""

    release: StoredRelease
    why: str


@dataclass(frozen=True)
class Pruning:
    """What ``prune`` deleted (or would delete) and what it kept, the newest first."""

    deleted: tuple[StoredRelease, ...]
    kept: tuple[Kept, ...]

    @property
    def freed(self) -> int:
        """Bytes of release files deleted."""
        return sum(release.size for release in self.deleted)


@dataclass(frozen=True)
class ReplicaState:
    """What one replica serves, since when, and when it last looked at the database."""

    name: str
    index_version: str
    serving_since: dt.datetime
    seen_at: dt.datetime


@dataclass(frozen=True)
class Refusal:
    replica: str
    index_version: str
    reason: str
    refused_at: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(stamp: dt.datetime) -> dt.datetime:
    # SQLite gives naive datetimes back; everything here is written in UTC.
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def _exclusive(connection: sa.Connection) -> None:
    """Hold off any other publish, rollback or prune until this transaction ends: prune must never delete a
    release that is being made current."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK)))
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock now, before reading, not at the first write


def _stored(connection: sa.Connection) -> list[StoredRelease]:
    query = sa.select(releases).order_by(releases.c.published_at.desc(), releases.c.index_version)
    return [
        StoredRelease(r.index_version, r.passage_count, r.size, _utc(r.published_at)) for r in connection.execute(query)
    ]


def _not_stored(connection: sa.Connection, version: str) -> str:
    """Why ``version`` cannot be made current: pruned (the history names it), or never published."""
    named = sa.select(release_history.c.id).where(release_history.c.index_version == version).limit(1)
    if connection.execute(named).first() is not None:
        return f"{version} was pruned from the database; publish it again"
    listed = ", ".join(r.index_version for r in _stored(connection)[:10]) or "none"
    return f"no release {version!r} in the database; published (newest first): {listed}"


def release_paths(folder: Path) -> list[str]:
    """What a release is made of: the manifest, the files it lists, and the folder's README."""
    manifest = read_manifest(folder)
    extra = [README_FILE] if (folder / README_FILE).is_file() else []
    return [MANIFEST_FILE, *extra, *sorted(manifest.files)]


class ReleaseStore:
    """Publishes, rolls back, downloads and reports releases on an SQLAlchemy engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def store(self, folder: Path) -> Manifest:
        """Keep the release in ``folder`` (once: a version already stored is left as it is)."""
        manifest = read_manifest(folder)
        paths = release_paths(folder)
        try:
            contents = {path: (folder / path).read_bytes() for path in paths}
        except OSError as error:
            raise IndexRefused(f"the index in {folder} cannot be read: {error}") from error
        with self.engine.begin() as connection:
            exists = connection.execute(
                sa.select(releases.c.index_version).where(releases.c.index_version == manifest.index_version)
            ).first()
            if exists is None:
                connection.execute(
                    releases.insert().values(
                        index_version=manifest.index_version,
                        manifest=contents[MANIFEST_FILE].decode("utf-8"),
                        passage_count=manifest.passage_count,
                        size=sum(len(data) for data in contents.values()),
                        published_at=_now(),
                    )
                )
                rows = [{"index_version": manifest.index_version, "path": p, "content": d} for p, d in contents.items()]
                connection.execute(release_files.insert(), rows)
        return manifest

    def make_current(self, version: str, action: str) -> None:
        """Make a stored release the current one, and tell the replicas listening. Raises ``IndexRefused``
        when ``version`` is not stored: never published, or pruned."""
        with self.engine.begin() as connection:
            _exclusive(connection)
            stored = sa.select(releases.c.index_version).where(releases.c.index_version == version)
            if connection.execute(stored).first() is None:
                raise IndexRefused(_not_stored(connection, version))
            connection.execute(release_history.insert().values(index_version=version, action=action, at=_now()))
            if connection.dialect.name == "postgresql":
                # Delivered when this transaction commits, so a replica never hears of a release it cannot read.
                connection.execute(sa.select(sa.func.pg_notify(CHANNEL, version)))

    def current(self) -> str | None:
        query = sa.select(release_history.c.index_version).order_by(release_history.c.id.desc()).limit(1)
        with self.engine.connect() as connection:
            return connection.execute(query).scalar_one_or_none()

    def stored(self) -> list[StoredRelease]:
        """Every stored release, the newest first."""
        with self.engine.connect() as connection:
            return _stored(connection)

    def prune(self, keep: int, dry_run: bool = False) -> Pruning:
        """Delete the stored releases that are none of: the current one, the ``keep`` most recently made
        current (by publish or rollback, so that rolling back to them still works), one that a replica seen
        in the last day serves. The history keeps its rows. ``dry_run``: only say what would go."""
        if keep < 1:
            raise ValueError("prune keeps at least the current release")
        served: dict[str, list[str]] = {}
        for replica in self.fleet():
            served.setdefault(replica.index_version, []).append(replica.name)
        made_current = sa.func.max(release_history.c.id)
        latest = (
            sa.select(release_history.c.index_version)
            .group_by(release_history.c.index_version)
            .order_by(made_current.desc())
            .limit(keep)
        )
        with self.engine.begin() as connection:
            _exclusive(connection)
            recent = list(connection.execute(latest).scalars())
            deleted: list[StoredRelease] = []
            kept: list[Kept] = []
            for release in _stored(connection):
                reasons = []
                if recent and release.index_version == recent[0]:
                    reasons.append("current")
                elif release.index_version in recent:
                    reasons.append("made current recently")
                if release.index_version in served:
                    reasons.append("served by " + ", ".join(served[release.index_version]))
                if reasons:
                    kept.append(Kept(release, "; ".join(reasons)))
                else:
                    deleted.append(release)
            if deleted and not dry_run:
                doomed = [release.index_version for release in deleted]
                # release_files goes first: SQLite does not cascade unless told to, per connection.
                connection.execute(release_files.delete().where(release_files.c.index_version.in_(doomed)))
                connection.execute(releases.delete().where(releases.c.index_version.in_(doomed)))
        return Pruning(tuple(deleted), tuple(kept))

    def download(self, version: str, folder: Path) -> None:
        """Write the stored release ``version`` into the empty folder ``folder``."""
        query = sa.select(release_files.c.path, release_files.c.content).where(release_files.c.index_version == version)
        with self.engine.connect() as connection:
            files = connection.execute(query).all()
        if not files:
            raise IndexRefused(f"release {version} is not in the database")
        for path, content in files:
            if Path(path).is_absolute() or ".." in Path(path).parts:
                raise IndexRefused(f"release {version} names a file outside the index: {path!r}")
            target = folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        # The stored manifest must be the one the release was published with.
        if json.loads((folder / MANIFEST_FILE).read_text("utf-8")).get("index_version") != version:
            raise IndexRefused(f"release {version}'s manifest names another version")

    def serving(self, replica: str, version: str) -> None:
        """Record that ``replica`` serves ``version`` from now on."""
        now = _now()
        with self.engine.begin() as connection:
            changed = connection.execute(
                replicas.update()
                .where(replicas.c.name == replica)
                .values(index_version=version, serving_since=now, seen_at=now)
            ).rowcount
            if not changed:
                connection.execute(
                    replicas.insert().values(name=replica, index_version=version, serving_since=now, seen_at=now)
                )

    def seen(self, replica: str, version: str) -> None:
        """A replica's heartbeat: it still serves ``version`` (recorded as new if it was not)."""
        with self.engine.begin() as connection:
            changed = connection.execute(
                replicas.update()
                .where(replicas.c.name == replica, replicas.c.index_version == version)
                .values(seen_at=_now())
            ).rowcount
        if not changed:
            self.serving(replica, version)

    def refuse(self, replica: str, version: str, reason: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                release_refusals.insert().values(
                    replica=replica, index_version=version, reason=reason, refused_at=_now()
                )
            )

    def fleet(self, since: dt.timedelta = dt.timedelta(days=1)) -> list[ReplicaState]:
        """The replicas seen within ``since``, by name."""
        query = sa.select(replicas).where(replicas.c.seen_at >= _now() - since).order_by(replicas.c.name)
        with self.engine.connect() as connection:
            return [
                ReplicaState(r.name, r.index_version, _utc(r.serving_since), _utc(r.seen_at))
                for r in connection.execute(query)
            ]

    def refusals(self, limit: int = 20) -> list[Refusal]:
        """The latest refusals, newest first."""
        query = sa.select(release_refusals).order_by(release_refusals.c.id.desc()).limit(limit)
        with self.engine.connect() as connection:
            return [
                Refusal(r.replica, r.index_version, r.reason, _utc(r.refused_at)) for r in connection.execute(query)
            ]
