"""Releases that travel through a real PostgreSQL: a replica with no index of its own starts from the
current release and follows ``faqbot publish`` and ``faqbot rollback``; a damaged release is refused
and recorded while the old one keeps serving; rows written through two replicas land once; a
PostgreSQL restart costs visitors nothing but a 503 on a vote; and ``faqbot prune`` deletes only the
releases that no one can need, on SQLite as on PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from conftest import KNOWLEDGE, LiveServer, make_settings
from test_reload import add_aftercare, cli, wait_for_version
from test_schema import faqbot

from bot.embedding import SentenceTransformerEmbedder
from bot.index import INDEX_FILE, MANIFEST_FILE, index_version, read_manifest
from bot.ops.localservices import PostgresServer
from bot.ops.server import free_port
from bot.release_store import ReleaseStore, StoredRelease, release_files, release_history, replicas
from bot.schema import alembic_config, migrate
from bot.settings import Settings
from bot.storage import create_engine

pytestmark = pytest.mark.slow
TOKEN = "fleet-token"
ANSWERED = "Can ketamine make me dizzy?"
UNANSWERED = "What is the capital of Australia?"
CRISIS = "I want to end my life"


@pytest.fixture
def database(postgres: PostgresServer) -> str:
    """A fresh PostgreSQL database, migrated as an operator would with ``faqbot migrate``."""
    url = postgres.database()
    engine = create_engine(url)
    migrate(engine)
    engine.dispose()
    return url


@pytest.fixture
def store(database: str) -> Iterator[ReleaseStore]:
    engine = create_engine(database)
    yield ReleaseStore(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def newer_knowledge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's knowledge with one more file: what the next release is built from."""
    knowledge = tmp_path_factory.mktemp("newer") / "knowledge"
    shutil.copytree(KNOWLEDGE, knowledge)
    add_aftercare(knowledge)
    return knowledge


def replica(tmp: Path, index_dir: Path, database: str, name: str, **extra: object) -> Settings:
    """A replica's settings: releases from the database, an empty folder as its cache."""
    settings = make_settings(tmp, index_dir, admin_token=TOKEN, **extra)
    return settings.model_copy(
        update={"database": database, "releases": "database", "index_dir": tmp / name / "cache", "replica_name": name}
    )


def publish(database: str, index: Path | None = None, knowledge: Path = KNOWLEDGE) -> str:
    """``faqbot publish``: the built index in ``index``, or a build of ``knowledge``; its version."""
    options = ["--index", str(index)] if index else []
    result = cli(["publish", *options], {"FAQBOT_DATABASE": database, "FAQBOT_KNOWLEDGE_DIR": str(knowledge)})
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def wait_until(check: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def dashboard(http: httpx.Client) -> str:
    page = http.get("/admin", headers={"Authorization": f"Bearer {TOKEN}"})
    assert page.status_code == 200
    return page.text


def test_a_replica_starts_from_the_current_release_and_follows_publish_and_rollback(
    tmp_path: Path, index_dir: Path, newer_knowledge: Path, database: str, embedder: SentenceTransformerEmbedder
) -> None:
    first = publish(database, index_dir)
    assert first == read_manifest(index_dir).index_version
    # A poll an hour apart: only the notification can bring the next release in time.
    settings = replica(tmp_path, index_dir, database, "replica-1", watch_interval=3600)
    with LiveServer(settings, embedder) as live, httpx.Client(base_url=live.url, timeout=30) as http:
        assert http.get("/readyz").json()["index_version"] == first
        assert read_manifest(settings.index_dir).index_version == first  # the cache holds what is served

        second = publish(database, knowledge=newer_knowledge)  # built from the knowledge files
        assert len(second) == len(first) != 0
        assert second != first
        assert wait_for_version(http, second) == second
        reply = http.post("/api/chat", json={"message": "Can I drive myself home after a ketamine infusion?"})
        assert reply.json()["index_version"] == second
        assert "Plan a ride home" in reply.json()["answers"][0]["text"]
        assert read_manifest(settings.index_dir).index_version == second
        page = dashboard(http)
        assert f"<td>replica-1</td>\n        <td><code>{second}</code></td>" in page

        rolled = cli(["rollback", first], {"FAQBOT_DATABASE": database})
        assert rolled.exit_code == 0, rolled.output
        assert rolled.stdout.strip() == f"release {first} is current again (was {second})"
        assert wait_for_version(http, first) == first

    unknown = cli(["rollback", "0000000000000000"], {"FAQBOT_DATABASE": database})
    assert unknown.exit_code == 1
    assert unknown.output.strip() == (
        f"error: no release '0000000000000000' in the database; published (newest first): {second}, {first}"
    )


def relabelled_copy(index: Path, target: Path, content_hash: str) -> Path:
    """The same index under a version of its own: another release, without building one."""
    shutil.copytree(index, target)
    manifest = json.loads((target / MANIFEST_FILE).read_text())
    manifest["content_hash"] = content_hash
    manifest["index_version"] = index_version(content_hash, manifest["model"])
    (target / MANIFEST_FILE).write_text(json.dumps(manifest))
    return target


def damaged_copy(index: Path, target: Path) -> Path:
    """A release whose FAISS file lost its end on the way: its own version, a truncated file."""
    relabelled_copy(index, target, "0" * 64)
    vectors = target / INDEX_FILE
    vectors.write_bytes(vectors.read_bytes()[: vectors.stat().st_size // 2])
    return target


def test_a_damaged_release_is_refused_recorded_and_the_old_one_keeps_serving(
    tmp_path: Path, index_dir: Path, database: str, store: ReleaseStore, embedder: SentenceTransformerEmbedder
) -> None:
    first = publish(database, index_dir)
    damaged = damaged_copy(index_dir, tmp_path / "damaged")
    # publish itself refuses it, with every check a replica makes
    refused = cli(["publish", "--index", str(damaged)], {"FAQBOT_DATABASE": database})
    assert refused.exit_code == 1
    assert "error: not published:" in refused.output
    assert "vectors.faiss" in refused.output
    assert store.current() == first

    # stored past those checks (damaged in the database, or by an older tool), it reaches the replica
    bad = store.store(damaged).index_version
    settings = replica(tmp_path, index_dir, database, "replica-1", watch_interval=0.5)
    with LiveServer(settings, embedder) as live, httpx.Client(base_url=live.url, timeout=30) as http:
        store.make_current(bad, "publish")
        assert wait_until(lambda: bool(store.refusals()))
        refusal = store.refusals()[0]
        assert (refusal.replica, refusal.index_version) == ("replica-1", bad)
        assert refusal.reason == "vectors.faiss does not match the manifest (changed or damaged)"
        assert http.get("/readyz").json()["index_version"] == first
        assert http.post("/api/chat", json={"message": ANSWERED}).json()["answers"]
        assert read_manifest(settings.index_dir).index_version == first  # the cache keeps the good one
        page = dashboard(http)
        assert "Releases refused" in page
        assert bad in page
        assert "(not the current release)" in page
        time.sleep(1.5)  # a few more polls: the refused release is not tried again
        assert len(store.refusals()) == 1


def count(database: str, table: str) -> int:
    engine = create_engine(database)
    with engine.connect() as connection:
        total = connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return int(total)


def test_rows_written_through_two_replicas_land_once_each(
    tmp_path: Path, index_dir: Path, database: str, embedder: SentenceTransformerEmbedder
) -> None:
    publish(database, index_dir)
    one = replica(tmp_path, index_dir, database, "replica-1")
    two = replica(tmp_path, index_dir, database, "replica-2")
    with LiveServer(one, embedder) as first, LiveServer(two, embedder) as second:
        for live in (first, second):
            with httpx.Client(base_url=live.url, timeout=30) as http:
                answer_id = http.post("/api/chat", json={"message": ANSWERED}).json()["answers"][0]["id"]
                assert http.post("/api/feedback", json={"answer_id": answer_id, "helpful": True}).status_code == 204
                assert http.post("/api/chat", json={"message": UNANSWERED}).json()["matched"] is False
                assert http.post("/api/chat", json={"message": CRISIS}).json()["crisis"] is True
        with httpx.Client(base_url=first.url, timeout=30) as http:
            assert "replica-1" in dashboard(http)
            assert "replica-2" in dashboard(http)
    assert count(database, "feedback") == 2
    assert count(database, "question_log") == 2
    assert count(database, "crisis_events") == 2


@dataclasses.dataclass
class Load:
    """Visitors asking, in a thread, until told to stop: every status code seen."""

    url: str
    statuses: list[int] = dataclasses.field(default_factory=list)
    stop: threading.Event = dataclasses.field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            for number in range(5000):  # bounded, whatever happens
                if self.stop.is_set():
                    return
                message = (ANSWERED, UNANSWERED, CRISIS)[number % 3]
                self.statuses.append(http.post("/api/chat", json={"message": message}).status_code)


def test_a_postgresql_restart_under_load_costs_visitors_only_a_503_on_a_vote(
    tmp_path: Path, index_dir: Path, database: str, postgres: PostgresServer, embedder: SentenceTransformerEmbedder
) -> None:
    publish(database, index_dir)
    settings = replica(tmp_path, index_dir, database, "replica-1", watch_interval=0.5)
    with LiveServer(settings, embedder) as live, httpx.Client(base_url=live.url, timeout=30) as http:
        answer_id = http.post("/api/chat", json={"message": ANSWERED}).json()["answers"][0]["id"]
        vote = {"answer_id": answer_id, "helpful": True}
        load = Load(live.url)
        visitors = threading.Thread(target=load.run)
        visitors.start()
        try:
            assert wait_until(lambda: len(load.statuses) >= 10)
            postgres.stop()
            try:
                asked = len(load.statuses)
                assert wait_until(lambda: len(load.statuses) >= asked + 30)  # replies keep coming while it is down
                down = http.post("/api/feedback", json=vote)
                assert down.status_code == 503
                assert down.json()["detail"] == "feedback cannot be stored right now: please try again in a minute"
                assert down.headers["retry-after"] == "30"
                assert http.get("/readyz").status_code == 200
            finally:
                postgres.start()
            asked = len(load.statuses)
            assert wait_until(lambda: len(load.statuses) >= asked + 10)
        finally:
            load.stop.set()
            visitors.join(timeout=60)
        assert set(load.statuses) == {200}, f"{len(load.statuses)} replies"
        assert http.post("/api/feedback", json=vote).status_code == 204  # writes resume
    assert count(database, "feedback") == 1
    assert count(database, "question_log") > 0


def test_a_replica_with_nothing_published_says_so_in_one_line(database: str, tmp_path: Path) -> None:
    env = {"FAQBOT_DATABASE": database, "FAQBOT_RELEASES": "database", "FAQBOT_INDEX_DIR": str(tmp_path / "cache")}
    result = faqbot("serve", "--port", str(free_port()), **env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: no release has been published to the database yet: run 'faqbot publish'"
    ]


def test_a_replica_will_not_start_on_a_damaged_current_release(
    tmp_path: Path, index_dir: Path, database: str, store: ReleaseStore
) -> None:
    store.make_current(store.store(damaged_copy(index_dir, tmp_path / "damaged")).index_version, "publish")
    env = {"FAQBOT_DATABASE": database, "FAQBOT_RELEASES": "database", "FAQBOT_INDEX_DIR": str(tmp_path / "cache")}
    result = faqbot("serve", "--port", str(free_port()), **env)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert "vectors.faiss does not match the manifest" in line


def test_on_sqlite_a_replica_follows_the_releases_by_polling(
    tmp_path: Path, index_dir: Path, newer_knowledge: Path, embedder: SentenceTransformerEmbedder
) -> None:
    # One machine, several workers, no PostgreSQL: the same releases, found by looking every so often.
    database = f"sqlite:///{tmp_path / 'faqbot.sqlite3'}"
    first = publish(database, index_dir)
    settings = replica(tmp_path, index_dir, database, "worker", watch_interval=0.2)
    with LiveServer(settings, embedder) as live, httpx.Client(base_url=live.url, timeout=30) as http:
        assert http.get("/readyz").json()["index_version"] == first
        second = publish(database, knowledge=newer_knowledge)
        assert wait_for_version(http, second) == second


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty database of each kind releases live in: an SQLite file on one machine, PostgreSQL for a fleet."""
    url = f"sqlite:///{tmp_path / 'releases.sqlite3'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres").database()
    engine = create_engine(url)
    yield engine
    engine.dispose()


def publish_older(store: ReleaseStore, index: Path, tmp: Path, count: int) -> list[str]:
    """``count`` releases published one after the other, as earlier publishes left them; their versions."""
    versions = []
    for number in range(count):
        version = store.store(relabelled_copy(index, tmp / f"older-{number}", str(number) * 64)).index_version
        store.make_current(version, "publish")
        versions.append(version)
    return versions


def stored_bytes(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        total = connection.execute(sa.select(sa.func.sum(sa.func.length(release_files.c.content)))).scalar_one()
    return int(total or 0)


def history(engine: sa.Engine) -> list[tuple[int, str, str]]:
    query = sa.select(release_history.c.id, release_history.c.index_version, release_history.c.action)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query.order_by(release_history.c.id))]


def listed(verb: str, release: StoredRelease, why: str = "") -> str:
    """One of prune's lines: the version, when it was published, its size, and why it was kept."""
    line = f"{verb} {release.index_version}  published {release.published_at:%Y-%m-%d %H:%M} UTC"
    line += f"  {release.size / 1_000_000:.1f} MB"
    return f"{line}  ({why})" if why else line


def test_prune_keeps_the_current_the_recent_and_the_served_releases_and_deletes_the_rest(
    tmp_path: Path, index_dir: Path, empty_engine: sa.Engine, embedder: SentenceTransformerEmbedder
) -> None:
    engine = empty_engine
    database = engine.url.render_as_string(hide_password=False)
    env = {"FAQBOT_DATABASE": database}
    migrate(engine)
    store = ReleaseStore(engine)
    older = publish_older(store, index_dir, tmp_path, 4)
    current = publish(database, index_dir)
    store.serving("replica-1", older[0])  # a replica still on the oldest release
    store.serving("gone", older[1])  # a replica stopped two days ago
    two_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    with engine.begin() as connection:
        connection.execute(replicas.update().where(replicas.c.name == "gone").values(seen_at=two_days_ago))
    release = {r.index_version: r for r in store.stored()}
    freed = release[older[2]].size + release[older[1]].size
    written, audit = stored_bytes(engine), history(engine)

    def report(delete: str, keep: str, freeing: str) -> list[str]:
        return [
            listed(delete, release[older[2]]),
            listed(delete, release[older[1]]),
            listed(keep, release[current], "current"),
            listed(keep, release[older[3]], "made current recently"),
            listed(keep, release[older[0]], "served by replica-1"),
            f"{freeing} {freed / 1_000_000:.1f} MB: 2 release(s)",
        ]

    dry = cli(["prune", "--keep", "2", "--dry-run"], env)
    assert dry.exit_code == 0, dry.output
    [*lines, last] = report("would delete", "would keep", "would free")
    assert dry.stdout.splitlines() == [*lines, last + "; nothing was deleted (--dry-run)"]
    assert stored_bytes(engine) == written
    assert len(store.stored()) == 5

    pruned = cli(["prune", "--keep", "2"], env)
    assert pruned.exit_code == 0, pruned.output
    assert pruned.stdout.splitlines() == report("deleted", "kept", "freed")
    assert [r.index_version for r in store.stored()] == [current, older[3], older[0]]
    assert stored_bytes(engine) == written - freed  # the size printed is the bytes deleted
    assert history(engine) == audit  # the audit trail keeps every publish and rollback

    gone = cli(["rollback", older[1]], env)
    assert gone.exit_code == 1
    assert gone.output.strip() == f"error: {older[1]} was pruned from the database; publish it again"
    back = cli(["rollback", older[3]], env)
    assert back.stdout.strip() == f"release {older[3]} is current again (was {current})"
    assert cli(["rollback", current], env).exit_code == 0
    assert cli(["prune", "--keep", "0"], env).exit_code == 2  # the current release is always kept

    # A replica that starts now finds the current release whole.
    settings = replica(tmp_path, index_dir, database, "replica-2")
    with LiveServer(settings, embedder) as live, httpx.Client(base_url=live.url, timeout=30) as http:
        assert http.get("/readyz").json()["index_version"] == current
    again = cli(["prune", "--keep", "2"], env)
    assert again.stdout.splitlines()[-1] == "nothing to prune: the 3 release(s) stored are all kept"
    assert "(current; served by replica-2)" in again.stdout


def test_revision_0007_keeps_the_history_of_a_database_with_releases_in_it(
    tmp_path: Path, index_dir: Path, empty_engine: sa.Engine
) -> None:
    engine = empty_engine
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0004")  # before the history could outlive a release
    store = ReleaseStore(engine)
    [first, second] = publish_older(store, index_dir, tmp_path, 2)
    store.make_current(first, "rollback")
    audit = history(engine)
    assert [action for _, _, action in audit] == ["publish", "publish", "rollback"]

    migrate(engine)
    assert history(engine) == audit
    assert sa.inspect(engine).get_foreign_keys("release_history") == []
    assert [r.index_version for r in store.prune(keep=1).deleted] == [second]
    assert history(engine) == audit
