"""Micro-batching: concurrent questions share the model's calls, and never get a different answer."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import numpy as np
import pytest
from conftest import LiveServer

from bot.assistant import Assistant
from bot.batching import MicroBatcher
from bot.embedding import SentenceTransformerEmbedder, Vectors

QUESTIONS = [
    "How does ketamine therapy work?",
    "What are the side effects of ketamine?",
    "How many ketamine sessions will I need?",
    "Is ketamine addictive?",
    "Can ketamine help with PTSD?",
    "How is ketamine given?",
    "How long do the effects last?",
    "Is ketamine therapy safe?",
    "What does a ketamine session feel like?",
    "Who should not take ketamine?",
    "Does insurance cover ketamine therapy?",
    "What is esketamine?",
    "Can I drive after a session?",
    "How fast does ketamine work for depression?",
    "What is the weather in Paris?",
    "Can ketamine help with anxiety?",
]


T = TypeVar("T")


def run_apart(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on its own event loop in a thread of its own: a browser test earlier in the
    session may have left Playwright's loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_concurrent_embeds_share_encode_calls_and_match_lone_ones(embedder: SentenceTransformerEmbedder) -> None:
    lone = [embedder.embed([q]) for q in QUESTIONS]

    async def together() -> tuple[list[Vectors], int]:
        batcher = MicroBatcher(embedder, max_size=64, max_wait=0.002)
        await batcher.start()
        try:
            vectors = await asyncio.gather(*(batcher.embed_async([q]) for q in QUESTIONS))
            return list(vectors), batcher.stats.batches
        finally:
            await batcher.close()

    vectors, batches = run_apart(together())
    assert batches < len(QUESTIONS)
    for alone, batched in zip(lone, vectors, strict=True):
        assert batched.shape == (1, embedder.dimension)
        np.testing.assert_allclose(batched, alone, atol=1e-5)


def test_embeds_from_worker_threads_get_their_own_rows(embedder: SentenceTransformerEmbedder) -> None:
    """Plain FastAPI routes run in threads: each caller must get the rows of its own texts, in order."""
    pairs = [[q, q.upper()] for q in QUESTIONS]

    async def from_threads() -> list[Vectors]:
        batcher = MicroBatcher(embedder, max_size=64, max_wait=0.002)
        await batcher.start()
        try:
            loop = asyncio.get_running_loop()
            with ThreadPoolExecutor(8) as pool:
                return list(await asyncio.gather(*(loop.run_in_executor(pool, batcher.embed, p) for p in pairs)))
        finally:
            await batcher.close()

    for pair, vectors in zip(pairs, run_apart(from_threads()), strict=True):
        np.testing.assert_allclose(vectors, embedder.embed(pair), atol=1e-5)


class Failing:
    """An embedder whose first call fails, to check that the batcher survives it."""

    model_id = "failing"
    dimension = 3

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("encoder broke")
        return np.ones((len(texts), 3), dtype=np.float32)


def test_a_failed_batch_reaches_its_callers_and_the_next_batch_still_works() -> None:
    async def scenario() -> Vectors:
        batcher = MicroBatcher(Failing())
        await batcher.start()
        try:
            with pytest.raises(RuntimeError, match="encoder broke"):
                await batcher.embed_async(["first"])
            return await batcher.embed_async(["second"])
        finally:
            await batcher.close()

    assert run_apart(scenario()).shape == (1, 3)


def test_concurrent_chat_requests_get_the_same_answers_as_lone_ones(server: LiveServer, assistant: Assistant) -> None:
    async def ask_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            return list(await asyncio.gather(*(client.post("/api/chat", json={"message": q}) for q in QUESTIONS)))

    for question, response in zip(QUESTIONS, run_apart(ask_all()), strict=True):
        assert response.status_code == 200, response.text
        body = response.json()
        alone = assistant.chat(question)
        assert body["matched"] == alone.matched, question
        assert body["crisis"] == alone.crisis, question
        assert [a["id"] for a in body["answers"]] == [r.passage.id for r in alone.answers], question
        assert [a["score"] for a in body["answers"]] == pytest.approx([r.score for r in alone.answers], abs=1e-4)
