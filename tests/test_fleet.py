"""A fleet as operators run it, all real and on loopback: three ``faqbot serve`` replicas with
``FAQBOT_RELEASES=database`` behind HAProxy (configured from ``deploy/``), PostgreSQL for the releases and
Redis for the rate limits. A release published under load reaches every replica with no failed request;
a damaged one is refused by all of them; a visitor's limit holds whichever replica they reach and however
they forge X-Forwarded-For; a replica killed under load leaves the rotation while requests keep succeeding.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from conftest import KNOWLEDGE
from test_fleet_releases import damaged_copy
from test_reload import add_aftercare

from bot.content.checks import build
from bot.embedding import SentenceTransformerEmbedder
from bot.index import read_manifest
from bot.ops.localfleet import HAPROXY, Balancer, Load, Outcome
from bot.ops.localservices import REDIS_SERVER, PostgresServer, RedisServer
from bot.ops.server import Server, wait_until
from bot.release_store import ReleaseStore
from bot.schema import migrate
from bot.storage import create_engine

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (Path(HAPROXY).exists() and Path(REDIS_SERVER).exists()),
        reason="no haproxy or redis-server: apt-get install -y haproxy redis-server (.ci/run does)",
    ),
]
REPLICAS = 3
SEARCH_LIMIT = 10  # per visitor per minute, counted in Redis; chat is left nearly unlimited for the load
PROPAGATION_SECONDS = 30  # every replica serves a published release within this long of `faqbot publish`
QUESTIONS = [
    "Can ketamine make me dizzy?",
    "How many ketamine sessions will I need?",
    "What is the capital of Australia?",
    "Is ketamine addictive?",
    "How does ketamine therapy work?",
    "Can I drive myself home after a ketamine infusion?",
    "what does the nasal spray do",
    "How long does an infusion take?",
]


@dataclass
class Fleet:
    database: str
    store: ReleaseStore
    replicas: list[Server]
    balancer: Balancer
    first: str


@pytest.fixture(scope="module")
def next_release(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Path:
    """The index of the project's knowledge with one more file: the release published under load."""
    folder = tmp_path_factory.mktemp("next")
    knowledge = folder / "knowledge"
    shutil.copytree(KNOWLEDGE, knowledge)
    add_aftercare(knowledge)
    build(knowledge, folder / "index", embedder)
    return folder / "index"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer, index_dir: Path) -> Iterator[Fleet]:
    folder = tmp_path_factory.mktemp("fleet")
    database = postgres.database()
    engine = create_engine(database)
    migrate(engine)
    store = ReleaseStore(engine)
    first = store.store(index_dir).index_version
    store.make_current(first, "publish")
    redis = RedisServer(folder).start()
    replicas = []
    for n in range(1, REPLICAS + 1):
        environment = {
            "FAQBOT_DATABASE": database,
            "FAQBOT_RELEASES": "database",
            "FAQBOT_INDEX_DIR": str(folder / f"replica-{n}" / "cache"),
            "FAQBOT_REPLICA_NAME": f"replica-{n}",
            "FAQBOT_WATCH_INTERVAL": "5",  # the polling fallback; LISTEN/NOTIFY is what brings a release
            "FAQBOT_RATE_LIMIT_STORAGE": redis.url,
            "FAQBOT_TRUSTED_PROXIES": "127.0.0.1",
            "FAQBOT_RATE_LIMIT": "100000/minute",
            "FAQBOT_SEARCH_RATE_LIMIT": f"{SEARCH_LIMIT}/minute",
            "FAQBOT_METRICS_ALLOW": "127.0.0.1",
            "FAQBOT_LOG_QUESTIONS": "off",
        }
        replicas.append(Server(environment, folder / f"replica-{n}.log").start())
    balancer = None
    try:
        for replica in replicas:
            replica.wait_ready()
        balancer = Balancer([replica.address for replica in replicas], folder).start()
        yield Fleet(database, store, replicas, balancer, first)
    finally:
        if balancer is not None:
            balancer.stop()
        for replica in replicas:
            replica.stop()
        redis.stop()
        engine.dispose()


def served(replica: Server) -> str | None:
    try:
        version: str = httpx.get(replica.url + "/readyz", timeout=5).json()["index_version"]
        return version
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def failed(outcomes: list[Outcome]) -> list[Outcome]:
    return [outcome for outcome in outcomes if outcome.status != 200]


def publish(database: str, index: Path) -> str:
    """`faqbot publish --index` as the content team runs it; the version it printed."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("FAQBOT_")}
    environment.update(FAQBOT_DATABASE=database, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    command = [sys.executable, "-m", "bot", "publish", "--index", str(index)]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


class Switches:
    """When (wall-clock time) each replica first answered /readyz with ``version``, polled every 50 ms."""

    def __init__(self, replicas: list[Server], version: str) -> None:
        self.replicas, self.version = replicas, version
        self.at: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.thread.start()

    def poll(self) -> None:
        while not self.stop.is_set() and len(self.at) < len(self.replicas):
            for replica in self.replicas:
                if replica.address not in self.at and served(replica) == self.version:
                    self.at[replica.address] = time.time()
            time.sleep(0.05)


def made_current_at(store: ReleaseStore, version: str) -> float:
    """When ``faqbot publish`` made ``version`` current, as the database recorded it."""
    history = sa.table("release_history", sa.column("index_version"), sa.column("at"))
    query = sa.select(sa.func.max(history.c.at)).where(history.c.index_version == version)
    with store.engine.connect() as connection:
        stamp: dt.datetime = connection.execute(query).scalar_one()
    return stamp.replace(tzinfo=stamp.tzinfo or dt.UTC).timestamp()


def test_a_release_published_under_load_reaches_every_replica_and_no_request_fails(
    fleet: Fleet, next_release: Path
) -> None:
    second = read_manifest(next_release).index_version
    assert second != fleet.first
    # A bounded load, paced so that it spans the whole release: 8 visitors, 60 questions a second.
    load = Load(fleet.balancer.url, QUESTIONS, concurrency=8, rate=60, requests=12000, seconds=240)
    thread = load.start()
    wait_until(lambda: len(load.outcomes) >= 300, "the load", 60)
    switches = Switches(fleet.replicas, second)
    assert publish(fleet.database, next_release) == second
    switches.thread.join(timeout=PROPAGATION_SECONDS)
    switches.stop.set()
    # More load after the switch, so that replies from the new release are among those checked, and at
    # least 2,000 requests in all however fast this machine published.
    time.sleep(2)
    wait_until(lambda: len(load.outcomes) >= 2000, "2,000 requests", 120)
    load.stop.set()
    thread.join(timeout=60)

    current = made_current_at(fleet.store, second)
    delays = {address: at - current for address, at in switches.at.items()}
    outcomes = load.outcomes
    print(f"\n{len(outcomes)} requests; replicas on {second} after {sorted(round(d, 2) for d in delays.values())} s")
    assert len(delays) == REPLICAS, f"only {sorted(delays)} served {second} within {PROPAGATION_SECONDS} s"
    assert max(delays.values()) <= PROPAGATION_SECONDS
    assert len(outcomes) >= 2000
    assert failed(outcomes) == []
    assert {outcome.index_version for outcome in outcomes} == {fleet.first, second}
    assert all(outcome.index_version == second for outcome in outcomes[-20:])


def test_a_damaged_release_is_refused_by_every_replica_which_keep_serving(
    fleet: Fleet, next_release: Path, tmp_path: Path
) -> None:
    serving = {served(replica) for replica in fleet.replicas}
    assert len(serving) == 1
    before = serving.pop()
    damaged = damaged_copy(next_release, tmp_path / "damaged")
    bad = fleet.store.store(damaged).index_version
    fleet.store.make_current(bad, "publish")

    def refused_by_all() -> bool:
        refusals = {refusal.replica for refusal in fleet.store.refusals(50) if refusal.index_version == bad}
        return refusals == {f"replica-{n}" for n in range(1, REPLICAS + 1)}

    wait_until(refused_by_all, "every replica's refusal", PROPAGATION_SECONDS)
    assert all(served(replica) == before for replica in fleet.replicas)
    with httpx.Client(base_url=fleet.balancer.url, timeout=30) as visitor:
        reply = visitor.post("/api/chat", json={"message": "Can ketamine make me dizzy?"})
    assert reply.status_code == 200
    assert reply.json()["index_version"] == before
    for replica in fleet.replicas:
        assert "faqbot_release_refusals_total 1.0" in httpx.get(replica.url + "/metrics", timeout=10).text
    fleet.store.make_current(before, "rollback")  # the fleet's current release is a good one again


def search(http: httpx.Client, **headers: str) -> int:
    return http.get("/api/search", params={"q": "nasal spray"}, headers=headers).status_code


def visitor(fleet: Fleet, address: str) -> httpx.Client:
    """A visitor at ``address`` (any 127.x.y.z) reaching the fleet through the balancer."""
    return httpx.Client(base_url=fleet.balancer.url, timeout=30, transport=httpx.HTTPTransport(local_address=address))


def test_a_visitor_over_the_limit_gets_429_whichever_replica_it_reaches(fleet: Fleet) -> None:
    with visitor(fleet, "127.0.0.7") as http:
        assert [search(http) for _ in range(SEARCH_LIMIT)] == [200] * SEARCH_LIMIT
        assert search(http) == 429
    # Each replica directly, as the balancer would forward this visitor: the count is Redis's, not its own.
    for replica in fleet.replicas:
        with httpx.Client(base_url=replica.url, timeout=30) as balancer_side:
            assert search(balancer_side, **{"x-forwarded-for": "127.0.0.7"}) == 429
    with visitor(fleet, "127.0.0.8") as other:
        assert search(other) == 200


def test_a_forged_forwarded_for_changes_nothing(fleet: Fleet) -> None:
    # Through the balancer: it replaces the header, so rotating it buys no fresh allowance.
    with visitor(fleet, "127.0.0.9") as http:
        statuses = [search(http, **{"x-forwarded-for": f"198.51.100.{n}"}) for n in range(SEARCH_LIMIT + 1)]
    assert statuses == [200] * SEARCH_LIMIT + [429]
    # Straight at a replica from an address that is not the balancer: the header is ignored, so forging
    # another visitor's address neither spends that visitor's allowance nor escapes one's own.
    replica = fleet.replicas[0]
    with httpx.Client(
        base_url=replica.url, timeout=30, transport=httpx.HTTPTransport(local_address="127.0.0.10")
    ) as forger:
        statuses = [search(forger, **{"x-forwarded-for": "127.0.0.11"}) for _ in range(SEARCH_LIMIT + 1)]
    assert statuses == [200] * SEARCH_LIMIT + [429]
    with visitor(fleet, "127.0.0.11") as victim:
        assert search(victim) == 200


def test_a_replica_killed_under_load_leaves_the_rotation_and_requests_keep_succeeding(fleet: Fleet) -> None:
    load = Load(fleet.balancer.url, QUESTIONS, concurrency=12, rate=300, requests=2500, seconds=120)
    thread = load.start()
    wait_until(lambda: len(load.outcomes) >= 500, "the load", 60)
    killed_at = load.outcomes[-1].started
    fleet.replicas[-1].kill()
    thread.join(timeout=150)
    outcomes = load.outcomes
    lost = failed(outcomes)
    after = [outcome for outcome in outcomes if outcome.started > killed_at]
    print(f"\n{len(outcomes)} requests, {len(after)} after the kill; {len(lost)} failed: {lost}")
    assert len(after) >= 1000
    # HAProxy sends again a request whose replica died under it (no answer at all) or refused its
    # connection, and its health checks take the replica out within about a second: none is lost.
    assert lost == []
    with httpx.Client(base_url=fleet.balancer.url, timeout=30) as http:
        assert all(http.get("/readyz").status_code == 200 for _ in range(20))
