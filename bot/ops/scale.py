"""``bench --scale N``: a synthetic knowledge base of N passages, built and served from a temporary folder.

Passages are new mixes of the real knowledge base's sentences, so they read like the real thing to
the model and to BM25. Nothing is written inside the project. Also checks how an HNSW graph's recall
compares with exact search on the built vectors, which is what decides ``EXACT_SEARCH_LIMIT``.
"""

from __future__ import annotations

import asyncio
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import faiss
import numpy as np

from bot.index import HNSW_EF_CONSTRUCTION, HNSW_M, hnsw_graph
from bot.ops.bench import Load, bench_questions, copy_safety, drive, server_env, unique_questions
from bot.ops.server import Server
from bot.settings import Settings

PER_FILE = 500
SENTENCE = re.compile(r"(?<=[.!?])\s+")
HNSW_EF = (16, 32, 64, 128)
BUILD_TIMEOUT = 3600.0


def synthetic_knowledge(source: Settings, target: Path, count: int, seed: int = 11) -> None:
    """Write ``count`` approved passages (three real sentences each) into ``target``."""
    from bot.content.checks import read_content

    passages = read_content(source.knowledge_dir).knowledge.passages
    sentences = sorted({s.strip() for p in passages for s in SENTENCE.split(p.text) if len(s.split()) >= 5})
    rng = random.Random(seed)
    target.mkdir(parents=True)
    copy_safety(source.knowledge_dir, target)
    seen: set[str] = set()
    for start in range(0, count, PER_FILE):
        body = [
            f"---\ntitle: Synthetic topic {start // PER_FILE + 1}\nstatus: approved\nreviewed_on: 2026-01-01\n---\n"
        ]
        for number in range(start, min(start + PER_FILE, count)):
            text = " ".join(rng.sample(sentences, 3))
            while text in seen:
                text = " ".join(rng.sample(sentences, 3))
            seen.add(text)
            body.append(f"## Passage {number + 1}\n\n{text}\n")
        (target / f"synthetic-{start // PER_FILE + 1:03d}.md").write_text("\n".join(body), encoding="utf-8")


def build(env: dict[str, str]) -> tuple[float, float]:
    """Run the real ``build`` command; the seconds it took and the CPU seconds it used.

    On a shared machine the CPU seconds say more: divided by the cores, they are about what the
    build takes on an idle machine.
    """
    started, cpu = time.perf_counter(), _children_cpu()
    command = [sys.executable, "-m", "bot", "build"]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=BUILD_TIMEOUT)
    return time.perf_counter() - started, _children_cpu() - cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def query_p50(env: dict[str, str], questions: Sequence[str], load: Load, log: Path) -> tuple[float, float]:
    """Median latency of unique questions at concurrency 1, and seconds to ready."""
    with Server(env, log) as server:
        warm = Load(requests=min(20, load.requests), seconds=load.seconds, concurrency=1)
        asyncio.run(drive(server.url, "warm-up", unique_questions(questions[::-1]), 1, warm))
        phase = asyncio.run(drive(server.url, "unique, c=1", unique_questions(questions), 1, load))
        return phase.p50, server.ready_seconds


def hnsw_recall(settings: Settings, index_dir: Path, questions: Sequence[str]) -> list[str]:
    """Recall@10 and time per query of HNSW graphs against exact search on the same vectors."""
    from bot.onnx_embedding import load_serving_embedder

    stored = faiss.read_index(str(index_dir / "vectors.faiss"))
    vectors = stored.reconstruct_n(0, stored.ntotal)
    queries = load_serving_embedder(settings).embed(list(questions[:200]))
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    started = time.perf_counter()
    _, truth = exact.search(queries, 10)
    lines = [f"exact (flat): {(time.perf_counter() - started) / len(queries) * 1e6:.0f} us/query"]
    graph = hnsw_graph(vectors.shape[1])
    started = time.perf_counter()
    graph.add(vectors)
    took = time.perf_counter() - started
    lines.append(f"HNSW M={HNSW_M} efConstruction={HNSW_EF_CONSTRUCTION}: built in {took:.1f} s")
    for ef in HNSW_EF:
        graph.hnsw.efSearch = ef
        started = time.perf_counter()
        _, found = graph.search(queries, 10)
        took = (time.perf_counter() - started) / len(queries) * 1e6
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found, strict=True)])
        lines.append(f"HNSW efSearch={ef}: recall@10 {recall:.3f}, {took:.0f} us/query")
    return lines


def run_scale(settings: Settings, count: int, load: Load, echo: Callable[[str], None]) -> None:
    """Build and serve ``count`` synthetic passages; compare query latency with the real index."""
    questions = bench_questions(settings)
    with tempfile.TemporaryDirectory(prefix="faqbot-scale-") as folder:
        workdir = Path(folder)
        knowledge, index = workdir / "knowledge", workdir / "index"
        synthetic_knowledge(settings, knowledge, count)
        env = server_env(settings, workdir, FAQBOT_KNOWLEDGE_DIR=str(knowledge), FAQBOT_INDEX_DIR=str(index))
        build_seconds, build_cpu = build(env)
        from bot.index import read_manifest

        manifest = read_manifest(index)
        small_p50, _ = query_p50(server_env(settings, workdir), questions, load, workdir / "small.log")
        large_p50, ready = query_p50(env, questions, load, workdir / "large.log")
        sizes = f"{manifest.passage_count} passages, {manifest.vector_count} vectors ({manifest.index_type})"
        echo(f"--scale {count}: {sizes}")
        echo(f"build: {build_seconds:.1f} s (target <= 180 s), {build_cpu:.0f} CPU seconds")
        echo(f"ready: {ready:.2f} s after start")
        echo(
            f"query p50 at c=1: {large_p50:.1f} ms, against {small_p50:.1f} ms on the real index "
            f"({large_p50 / small_p50:.2f}x, target <= 2x)"
        )
        for line in hnsw_recall(settings, index, questions):
            echo(line)
