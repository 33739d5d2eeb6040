"""``bench`` runs end to end on a tiny load and prints its figures. It asserts no timings: those are
for the benchmark itself, on a quiet machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import KNOWLEDGE


def run_bench(index_dir: Path, *args: str) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FAQBOT_")}
    env.update(HF_HUB_OFFLINE="1", FAQBOT_KNOWLEDGE_DIR=str(KNOWLEDGE), FAQBOT_INDEX_DIR=str(index_dir))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "bench", "--requests", "6", "--seconds", "30", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_bench_compares_the_batched_server_with_the_naive_one(index_dir: Path) -> None:
    out = run_bench(index_dir, "--compare-naive", "--concurrency", "2")
    for server in ("batched", "naive"):
        for phase in ("unique, c=1", "unique, c=2", "repeated (Zipf), c=2"):
            row = next(line for line in out.splitlines() if line.startswith(f"| {server} | {phase} |"))
            p50, p99, throughput, errors = (cell.strip() for cell in row.split("|")[3:7])
            assert float(p50) > 0
            assert float(p99) >= float(p50)
            assert float(throughput) > 0
            assert errors == "0"
        assert f"{server}: ready " in out
        assert "peak memory" in out
    for ratio in ("c=2 throughput:", "c=2 p99:", "c=1 p50:", "repeated p50:", "ready:"):
        assert ratio in out


def test_bench_scale_builds_and_serves_a_synthetic_knowledge_base(index_dir: Path) -> None:
    out = run_bench(index_dir, "--scale", "40")
    assert "--scale 40: 40 passages, 40 vectors (flat-ip)" in out
    assert "build: " in out
    assert "query p50 at c=1: " in out
    assert "HNSW efSearch=128: recall@10" in out
