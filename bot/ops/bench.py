"""``python -m bot bench``: start the real server on loopback and measure it with an async HTTP client.

The client is aiohttp because it is fast enough that cached replies measure the server, not the client.

Every request loop is bounded twice, by a count and by a deadline, and only ever targets 127.0.0.1.
Ratios against the naive server measured in the same run are the figures that count on a busy
machine; absolute milliseconds move with whatever else the machine is doing.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np

from bot.ops.server import Server
from bot.settings import Settings

LEAD_INS = ("", "Hi, ", "Quick question: ", "Hello. ", "I was wondering, ", "Sorry to bother you, ", "Please tell me: ")
TAILS = ("", " Thanks.", " Thank you!", " I'm asking for my mother.", " Asking before my first visit.", " ?")
# The naive server is the plain path from before batching: torch, one encode per request, no cache.
NAIVE_ENV = {"FAQBOT_BATCHING": "false", "FAQBOT_CACHE_SIZE": "0", "FAQBOT_ENCODER": "torch"}


@dataclass(frozen=True)
class Load:
    """How much to send: requests per phase, seconds per phase at most, concurrency of the busy phases."""

    requests: int = 400
    seconds: float = 60.0
    concurrency: int = 16


@dataclass(frozen=True)
class Phase:
    name: str
    latencies_ms: tuple[float, ...]
    errors: int
    seconds: float

    @property
    def p50(self) -> float:
        return float(np.percentile(self.latencies_ms, 50)) if self.latencies_ms else float("nan")

    @property
    def p99(self) -> float:
        return float(np.percentile(self.latencies_ms, 99)) if self.latencies_ms else float("nan")

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Run:
    label: str
    ready_seconds: float
    phases: dict[str, Phase]
    peak_rss_mb: float


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), from /proc; NaN where there is no /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def unique_questions(questions: Sequence[str]) -> Iterator[str]:
    """Endless distinct questions, each a real one with a different greeting or ending: no cache helps."""
    for round_ in itertools.count():
        for lead, tail in itertools.product(LEAD_INS, TAILS):
            for question in questions:
                yield f"{lead}{question}{tail}" + (f" ({round_})" if round_ else "")


def zipf_questions(questions: Sequence[str], count: int, seed: int = 7) -> list[str]:
    """``count`` questions drawn with Zipf weights (s = 1.1): a few are asked again and again."""
    weights = [1 / rank**1.1 for rank in range(1, len(questions) + 1)]
    return random.Random(seed).choices(list(questions), weights=weights, k=count)


async def drive(url: str, name: str, questions: Iterator[str], concurrency: int, load: Load) -> Phase:
    """Send up to ``load.requests`` chat requests from ``concurrency`` clients, for ``load.seconds`` at most."""
    latencies: list[float] = []
    errors = 0
    sent = 0
    started = time.perf_counter()
    deadline = started + load.seconds

    async def client_loop(client: aiohttp.ClientSession) -> None:
        nonlocal errors, sent
        while sent < load.requests and time.perf_counter() < deadline:
            sent += 1
            message = next(questions)
            begun = time.perf_counter()
            try:
                async with client.post("/api/chat", json={"message": message}) as response:
                    await response.read()
                    ok = response.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            if ok:
                latencies.append((time.perf_counter() - begun) * 1000)
            else:
                errors += 1

    connector = aiohttp.TCPConnector(limit=concurrency)  # one kept-alive connection per client
    async with aiohttp.ClientSession(url, connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
    return Phase(name, tuple(latencies), errors, time.perf_counter() - started)


def measure(label: str, env: dict[str, str], questions: Sequence[str], load: Load, workdir: Path) -> Run:
    """Start one server, warm it up, then run the three phases against it."""
    with Server(env, workdir / f"{label}.log") as server:
        assert server.process is not None
        c = load.concurrency
        # Warm up alone and then together, so that thread pools and the encoder's buffers for a full
        # batch exist before anything is measured; questions no phase asks, so that nothing is cached.
        warm_ups = (f"{question} (warm-up {n})" for n in itertools.count() for question in questions)
        for clients in (1, c):
            warm = Load(requests=min(4 * clients, load.requests), seconds=load.seconds, concurrency=clients)
            asyncio.run(drive(server.url, "warm-up", warm_ups, clients, warm))
        fresh = unique_questions(questions)
        repeated = iter(zipf_questions(questions, load.requests))
        phases = [
            asyncio.run(drive(server.url, "unique, c=1", fresh, 1, load)),
            asyncio.run(drive(server.url, f"unique, c={c}", fresh, c, load)),
            asyncio.run(drive(server.url, f"repeated (Zipf), c={c}", repeated, c, load)),
        ]
        return Run(label, server.ready_seconds, {p.name: p for p in phases}, peak_rss_mb(server.process.pid))


def server_env(settings: Settings, workdir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FAQBOT_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        FAQBOT_KNOWLEDGE_DIR=str(settings.knowledge_dir),
        FAQBOT_INDEX_DIR=str(settings.index_dir),
        FAQBOT_MODEL=settings.model,
        FAQBOT_ENCODER=settings.encoder,
        FAQBOT_ENCODER_CACHE=str(settings.encoder_cache),
        FAQBOT_DATABASE=f"sqlite:///{workdir / 'bench.sqlite3'}",
        FAQBOT_RATE_LIMIT="0",  # one client on loopback sends far more than a visitor may
        FAQBOT_WATCH_INDEX="false",
    )
    env.update(extra)
    return env


def table(runs: Sequence[Run]) -> list[str]:
    lines = [
        "| server | phase | p50 ms | p99 ms | requests/s | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        for phase in run.phases.values():
            lines.append(
                f"| {run.label} | {phase.name} | {phase.p50:.1f} | {phase.p99:.1f} | "
                f"{phase.throughput:.0f} | {phase.errors} |"
            )
    lines.append("")
    for run in runs:
        lines.append(f"{run.label}: ready {run.ready_seconds:.2f} s after start, peak memory {run.peak_rss_mb:.0f} MB")
    return lines


def ratio(fast: float, naive: float) -> float:
    """``fast / naive``, or NaN when the naive server answered nothing: the target is then MISSED."""
    return fast / naive if naive else float("nan")


def ratios(fast: Run, naive: Run, concurrency: int) -> list[str]:
    """Each figure against its target, ``ok`` or ``MISSED``; a NaN figure never meets its target."""
    one, many, repeated = "unique, c=1", f"unique, c={concurrency}", f"repeated (Zipf), c={concurrency}"
    checks: list[tuple[str, float, str, Callable[[float], bool]]] = [
        (
            f"c={concurrency} throughput",
            ratio(fast.phases[many].throughput, naive.phases[many].throughput),
            "x (target >= 3x)",
            lambda v: v >= 3,
        ),
        (
            f"c={concurrency} p99",
            ratio(fast.phases[many].p99, naive.phases[many].p99),
            "x (target <= 0.33x)",
            lambda v: v <= 0.33,
        ),
        ("c=1 p50", ratio(fast.phases[one].p50, naive.phases[one].p50), "x (target <= 1.0x)", lambda v: v <= 1.0),
        ("repeated p50", fast.phases[repeated].p50, "ms (target <= 2 ms)", lambda v: v <= 2),
        ("ready", fast.ready_seconds, "s after start (target <= 5 s)", lambda v: v <= 5),
    ]
    return [f"{name}: {value:.2f} {unit} {'ok' if good(value) else 'MISSED'}" for name, value, unit, good in checks]


def bench_questions(settings: Settings) -> list[str]:
    from bot.content.checks import read_content

    passages = read_content(settings.knowledge_dir).knowledge.passages
    questions = list(dict.fromkeys(q for p in passages for q in p.questions))
    if not questions:
        raise ValueError(f"the knowledge in {settings.knowledge_dir} lists no questions to ask")
    return questions


def run_bench(settings: Settings, load: Load, compare_naive: bool, echo: Callable[[str], None]) -> list[Run]:
    """The serving benchmark; returns the runs after printing their table (and ratios)."""
    questions = bench_questions(settings)
    with tempfile.TemporaryDirectory(prefix="faqbot-bench-") as folder:
        workdir = Path(folder)
        runs = [measure("batched", server_env(settings, workdir), questions, load, workdir)]
        if compare_naive:
            runs.append(measure("naive", server_env(settings, workdir, **NAIVE_ENV), questions, load, workdir))
    echo(f"machine: {os.cpu_count()} CPU cores, no GPU; {len(questions)} distinct questions")
    for line in table(runs):
        echo(line)
    if compare_naive:
        echo("")
        for line in ratios(runs[0], runs[1], load.concurrency):
            echo(line)
    return runs


def copy_safety(source: Path, target: Path) -> None:
    """What a synthetic knowledge folder keeps of the real one: the crisis lists, the scope calibration
    and the synonyms."""
    from bot.query import SYNONYMS_YAML
    from bot.safety import SAFETY_FOLDER
    from bot.scope import CALIBRATION_FILE

    shutil.copytree(source / SAFETY_FOLDER, target / SAFETY_FOLDER)
    for name in (CALIBRATION_FILE, SYNONYMS_YAML):
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)
