"""The benchmark's report checked on figures given to it (the table, the ratios against their targets),
its request loop against a small real server, and one short end-to-end run of each mode. Nothing here
asserts a timing of this machine: those are for the benchmark itself, on a quiet machine."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web
from conftest import KNOWLEDGE
from test_batching import run_apart

from bot.ops.bench import Load, Phase, Run, drive, ratios, table

C = 16
ONE, MANY, REPEATED = "unique, c=1", f"unique, c={C}", f"repeated (Zipf), c={C}"


def phase(name: str, latency_ms: float, per_second: float, errors: int = 0) -> Phase:
    """One second of replies, all taking ``latency_ms``: p50 = p99 = latency, throughput = per_second."""
    return Phase(name, (latency_ms,) * int(per_second), errors, 1.0)


def run(label: str, one: Phase, many: Phase, repeated: Phase, ready: float = 1.6) -> Run:
    return Run(label, ready, {p.name: p for p in (one, many, repeated)}, 289.0)


NAIVE = run("naive", phase(ONE, 16, 60), phase(MANY, 100, 100), phase(REPEATED, 260, 60), ready=5.8)


def figures(fast: Run, naive: Run = NAIVE) -> dict[str, str]:
    """The ratio lines by name: ``{"c=16 throughput": "3.20 x (target >= 3x) ok", ...}``."""
    return {name: value for name, _, value in (line.partition(": ") for line in ratios(fast, naive, C))}


def test_every_target_met_reads_ok() -> None:
    fast = run("batched", phase(ONE, 6, 150), phase(MANY, 30, 320), phase(REPEATED, 1.3, 8000))
    assert figures(fast) == {
        "c=16 throughput": "3.20 x (target >= 3x) ok",
        "c=16 p99": "0.30 x (target <= 0.33x) ok",
        "c=1 p50": "0.38 x (target <= 1.0x) ok",
        "repeated p50": "1.30 ms (target <= 2 ms) ok",
        "ready": "1.60 s after start (target <= 5 s) ok",
    }


def test_a_target_is_met_on_its_bound() -> None:
    fast = run("batched", phase(ONE, 16, 60), phase(MANY, 33, 300), phase(REPEATED, 2, 8000), ready=5)
    assert all(line.endswith(" ok") for line in figures(fast).values())


def test_every_target_missed_reads_missed() -> None:
    fast = run("batched", phase(ONE, 17, 60), phase(MANY, 34, 290), phase(REPEATED, 2.5, 8000), ready=5.2)
    assert figures(fast) == {
        "c=16 throughput": "2.90 x (target >= 3x) MISSED",
        "c=16 p99": "0.34 x (target <= 0.33x) MISSED",
        "c=1 p50": "1.06 x (target <= 1.0x) MISSED",
        "repeated p50": "2.50 ms (target <= 2 ms) MISSED",
        "ready": "5.20 s after start (target <= 5 s) MISSED",
    }


def test_phases_without_a_reply_miss_their_targets_instead_of_failing() -> None:
    empty = run("batched", Phase(ONE, (), 4, 1.0), Phase(MANY, (), 4, 1.0), Phase(REPEATED, (), 4, 1.0))
    assert math.isnan(empty.phases[ONE].p50)
    assert math.isnan(empty.phases[ONE].p99)
    assert empty.phases[ONE].throughput == 0
    assert figures(empty) == {
        "c=16 throughput": "0.00 x (target >= 3x) MISSED",
        "c=16 p99": "nan x (target <= 0.33x) MISSED",
        "c=1 p50": "nan x (target <= 1.0x) MISSED",
        "repeated p50": "nan ms (target <= 2 ms) MISSED",
        "ready": "1.60 s after start (target <= 5 s) ok",
    }
    # A naive server that answered nothing: no division by zero, the ratios are simply not met.
    fast = run("batched", phase(ONE, 6, 150), phase(MANY, 30, 320), phase(REPEATED, 1.3, 8000))
    against_nothing = figures(fast, empty)
    assert [against_nothing[name] for name in ("c=16 throughput", "c=16 p99", "c=1 p50")] == [
        "nan x (target >= 3x) MISSED",
        "nan x (target <= 0.33x) MISSED",
        "nan x (target <= 1.0x) MISSED",
    ]


def test_the_table_has_a_row_per_phase_then_a_line_per_server() -> None:
    # Replies of 1 to 100 ms in two seconds, and 5 failures: errors do not count towards throughput.
    spread = Phase(MANY, tuple(float(ms) for ms in range(1, 101)), 5, 2.0)
    batched = Run("batched", 1.6, {ONE: phase(ONE, 6, 150), MANY: spread}, 289.4)
    naive = Run("naive", 5.8, {ONE: Phase(ONE, (), 3, 1.0)}, float("nan"))
    assert table([batched, naive]) == [
        "| server | phase | p50 ms | p99 ms | requests/s | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        "| batched | unique, c=1 | 6.0 | 6.0 | 150 | 0 |",
        "| batched | unique, c=16 | 50.5 | 99.0 | 50 | 5 |",
        "| naive | unique, c=1 | nan | nan | 0 | 3 |",
        "",
        "batched: ready 1.60 s after start, peak memory 289 MB",
        "naive: ready 5.80 s after start, peak memory nan MB",
    ]


def test_drive_sends_the_requests_asked_for_and_counts_each_failure() -> None:
    calls = 0

    async def chat(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.json_response({}, status=200 if calls % 3 else 503)

    async def drive_a_server() -> Phase:
        app = web.Application()
        app.router.add_post("/api/chat", chat)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            port = runner.addresses[0][1]
            questions = iter(str(n) for n in range(1000))
            return await drive(f"http://127.0.0.1:{port}", "p", questions, 4, Load(requests=30, seconds=30))
        finally:
            await runner.cleanup()

    done = run_apart(drive_a_server())
    assert calls == 30
    assert (len(done.latencies_ms), done.errors) == (20, 10)


def run_bench(index_dir: Path, *args: str) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FAQBOT_")}
    env.update(HF_HUB_OFFLINE="1", FAQBOT_KNOWLEDGE_DIR=str(KNOWLEDGE), FAQBOT_INDEX_DIR=str(index_dir))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "bench", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_bench_compares_the_batched_server_with_the_naive_one(index_dir: Path) -> None:
    out = run_bench(index_dir, "--compare-naive", "--concurrency", "2", "--requests", "2", "--seconds", "30")
    for server in ("batched", "naive"):
        for name in ("unique, c=1", "unique, c=2", "repeated (Zipf), c=2"):
            row = next(line for line in out.splitlines() if line.startswith(f"| {server} | {name} |"))
            p50, _, throughput, errors = (cell.strip() for cell in row.split("|")[3:7])
            assert float(p50) > 0
            assert float(throughput) > 0
            assert errors == "0"
        assert f"{server}: ready " in out
    for ratio in ("c=2 throughput:", "c=2 p99:", "c=1 p50:", "repeated p50:", "ready:"):
        assert ratio in out


@pytest.mark.slow
def test_bench_scale_builds_and_serves_a_synthetic_knowledge_base(index_dir: Path) -> None:
    out = run_bench(index_dir, "--scale", "40", "--requests", "2", "--seconds", "30")
    assert "--scale 40: 40 passages, 40 vectors (flat-ip)" in out
    assert "build: " in out
    assert "query p50 at c=1: " in out
    assert "HNSW efSearch=128: recall@10" in out
