"""``faqbot bench --fleet N``: throughput and p99 through the load balancer for 1 to N replicas, and the
time a release takes to reach all of them.

Everything runs on this machine, on loopback, as a fleet runs: PostgreSQL holds the releases, Redis the
rate limits, HAProxy (configured from ``deploy/``) spreads the requests, and each replica is its own
``faqbot serve`` process with ``FAQBOT_RELEASES=database``. The load is the serving benchmark's
(``bot.ops.bench``): unique questions, which the encoder must embed, and repeated ones (Zipf), which come
from each replica's cache. Every replica shares the machine's cores with the others and with the client,
so per-replica efficiency (throughput over N times one replica's) says how much of a core each added
replica really gets.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bot.ops.bench import Load, Phase, bench_questions, drive, server_env, unique_questions, zipf_questions
from bot.ops.localfleet import Balancer
from bot.ops.localservices import PostgresServer, RedisServer, postgres_bin
from bot.ops.server import Server, served_version, wait_until
from bot.settings import Settings

BENCH_SYNONYM = "\nfaqbot-bench-release: ketamine  # written by bench --fleet: a release that differs only here\n"


@dataclass(frozen=True)
class FleetRun:
    replicas: int
    unique: Phase
    repeated: Phase


@contextmanager
def running_fleet(
    count: int, environment: dict[str, str], folder: Path, prefix: str
) -> Iterator[tuple[list[Server], Balancer]]:
    """``count`` replicas behind HAProxy, stopped afterwards."""
    replicas = []
    for n in range(1, count + 1):
        name = f"{prefix}-{n}"
        own = {**environment, "FAQBOT_INDEX_DIR": str(folder / name), "FAQBOT_REPLICA_NAME": name}
        replicas.append(Server(own, folder / f"{name}.log").start())
    balancer: Balancer | None = None
    try:
        for replica in replicas:
            replica.wait_ready()
        (folder / prefix).mkdir(exist_ok=True)
        balancer = Balancer([replica.address for replica in replicas], folder / prefix).start()
        yield replicas, balancer
    finally:
        if balancer is not None:
            balancer.stop()
        for replica in replicas:
            replica.stop()


def measure(url: str, questions: list[str], load: Load) -> tuple[Phase, Phase]:
    c = load.concurrency
    warm_ups = (f"{question} (warm-up {n})" for n in itertools.count() for question in questions)
    asyncio.run(drive(url, "warm-up", warm_ups, c, Load(requests=8 * c, seconds=load.seconds, concurrency=c)))
    unique = asyncio.run(drive(url, f"unique, c={c}", unique_questions(questions), c, load))
    repeated = asyncio.run(
        drive(url, f"repeated (Zipf), c={c}", iter(zipf_questions(questions, load.requests)), c, load)
    )
    return unique, repeated


def propagation(replicas: list[Server], version: str, make_current: Callable[[], None]) -> float:
    """Seconds from ``version`` being made current to every replica's /readyz naming it."""
    started = time.perf_counter()
    make_current()
    pending = {replica.url for replica in replicas}

    def all_serve() -> bool:
        for url in list(pending):
            if served_version(url) == version:
                pending.discard(url)
        return not pending

    wait_until(all_serve, f"release {version} on every replica", 120)
    return time.perf_counter() - started


def next_release(settings: Settings, folder: Path) -> Path:
    """The same knowledge with one synonym more: another index_version, built as `faqbot build` builds."""
    from bot.content.checks import build
    from bot.embedding import SentenceTransformerEmbedder
    from bot.query import SYNONYMS_YAML

    knowledge = folder / "knowledge"
    shutil.copytree(settings.knowledge_dir, knowledge)
    with (knowledge / SYNONYMS_YAML).open("a", encoding="utf-8") as synonyms:
        synonyms.write(BENCH_SYNONYM)
    build(knowledge, folder / "next-index", SentenceTransformerEmbedder(settings.model))
    return folder / "next-index"


def run_fleet_bench(settings: Settings, largest: int, load: Load, echo: Callable[[str], None]) -> list[FleetRun]:
    """Measure fleets of 1 to ``largest`` replicas, then a release's propagation to the largest; print a table."""
    from bot.release_store import ReleaseStore
    from bot.schema import migrate
    from bot.storage import create_engine

    bin_dir = postgres_bin()
    if bin_dir is None:
        raise RuntimeError("bench --fleet needs PostgreSQL's initdb and pg_ctl: apt-get install postgresql")
    questions = bench_questions(settings)
    runs: list[FleetRun] = []
    seconds = float("nan")
    with tempfile.TemporaryDirectory(prefix="faqbot-fleet-bench-") as name:
        folder = Path(name)
        postgres = PostgresServer(bin_dir).init()
        redis = RedisServer(folder).start()
        try:
            database = postgres.database()
            engine = create_engine(database)
            migrate(engine)
            store = ReleaseStore(engine)
            store.make_current(store.store(settings.index_dir).index_version, "publish")
            environment = server_env(
                settings,
                folder,
                FAQBOT_DATABASE=database,
                FAQBOT_RELEASES="database",
                FAQBOT_RATE_LIMIT_STORAGE=redis.url,
                FAQBOT_TRUSTED_PROXIES="127.0.0.1",
                # Counted in Redis as in production, but high enough for one client sending everything.
                FAQBOT_RATE_LIMIT="1000000/minute",
                FAQBOT_SEARCH_RATE_LIMIT="1000000/minute",
                FAQBOT_LOG_QUESTIONS="off",
            )
            environment.pop("FAQBOT_INDEX_DIR", None)
            for count in range(1, largest + 1):
                with running_fleet(count, environment, folder, f"fleet{count}") as (replicas, balancer):
                    unique, repeated = measure(balancer.url, questions, load)
                    runs.append(FleetRun(count, unique, repeated))
                    echo(f"{count} replica(s): {unique.throughput:.0f} unique/s, {repeated.throughput:.0f} repeated/s")
                    if count == largest:
                        version = store.store(next_release(settings, folder)).index_version
                        seconds = propagation(replicas, version, partial(store.make_current, version, "publish"))
            engine.dispose()
        finally:
            redis.stop()
            postgres.close()
    for line in table(runs, load.concurrency):
        echo(line)
    echo(f"release propagation: {seconds:.2f} s from being made current to all {largest} replicas serving it")
    echo(f"machine: {os.cpu_count()} CPU cores; the replicas, HAProxy, PostgreSQL, Redis and the client share them")
    return runs


def table(runs: list[FleetRun], concurrency: int) -> list[str]:
    base = {"unique": runs[0].unique.throughput, "repeated": runs[0].repeated.throughput}
    lines = [
        f"| replicas | phase (c={concurrency}) | p50 ms | p99 ms | requests/s | per-replica efficiency | errors |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        for kind, phase in (("unique", run.unique), ("repeated", run.repeated)):
            efficiency = phase.throughput / (run.replicas * base[kind]) if base[kind] else float("nan")
            lines.append(
                f"| {run.replicas} | {kind} | {phase.p50:.1f} | {phase.p99:.1f} | {phase.throughput:.0f} | "
                f"{efficiency:.2f} | {phase.errors} |"
            )
    return lines
