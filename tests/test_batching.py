"""Micro-batching and the reply cache: faster, and never a different answer."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import pytest
from conftest import LiveServer, make_settings

from bot.assistant import Assistant, load_retriever
from bot.batching import MicroBatcher
from bot.cache import ReplyCache, normalise
from bot.content import build
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


def test_the_cache_keeps_the_most_recent_and_forgets_other_versions() -> None:
    cache: ReplyCache[str] = ReplyCache(2)
    cache.put("v1", "a", "A")
    cache.put("v1", "b", "B")
    assert cache.get("v1", "a") == "A"  # now "b" is the least recently used
    cache.put("v1", "c", "C")
    assert cache.get("v1", "b") is None
    assert cache.get("v1", "a") == "A"
    assert cache.get("v2", "a") is None  # another index version never sees these entries
    cache.put("v2", "a", "A2")
    assert cache.get("v1", "c") is None
    assert len(cache) == 1
    off: ReplyCache[str] = ReplyCache(0)
    off.put("v1", "a", "A")
    assert off.get("v1", "a") is None


def test_only_spacing_is_folded_in_the_cache_key() -> None:
    assert normalise("  What   is\tketamine? ") == normalise("What is ketamine?")
    assert normalise("I'm fine.\nI want to die.") != normalise("I'm fine. I want to die.")
    assert normalise("What is KETAMINE?") != normalise("what is ketamine?")


def test_a_repeat_is_answered_from_the_cache_and_a_reload_invalidates_it(
    tmp_path: Path, knowledge_copy: Path, embedder: SentenceTransformerEmbedder
) -> None:
    question = "What are the side effects of ketamine?"
    index_dir = tmp_path / "index"
    build(knowledge_copy, index_dir, embedder)
    settings = make_settings(tmp_path, index_dir, knowledge_copy)
    with LiveServer(settings, embedder) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        replies = live.app.state.replies
        first = client.post("/api/chat", json={"message": question})
        hits = replies.hits
        again = client.post("/api/chat", json={"message": f"  {question.replace(' ', '  ')} "})
        assert replies.hits == hits + 1  # answered from memory, and the visitor cannot tell
        assert again.status_code == 200
        assert again.json() == first.json()
        assert again.headers["content-security-policy"] == first.headers["content-security-policy"]
        assert again.headers["cache-control"] == "no-store"
        assert again.headers["x-request-id"] != first.headers["x-request-id"]
        searched = client.get("/api/search", params={"q": question, "k": 5}).json()
        assert client.get("/api/search", params={"q": question, "k": 5}).json() == searched

        # The content team edits the passage that answers it and ships a new index.
        source = knowledge_copy / "ketamine-therapy.md"
        best = first.json()["answers"][0]["text"]
        source.write_text(source.read_text(encoding="utf-8").replace(best, best + " Tell your care team."), "utf-8")
        new_index = tmp_path / "index-v2"
        build(knowledge_copy, new_index, embedder)
        live.app.state.assistant.swap(load_retriever(make_settings(tmp_path, new_index, knowledge_copy), embedder))

        after = client.post("/api/chat", json={"message": question}).json()
        assert after["index_version"] != first.json()["index_version"]
        assert any("Tell your care team." in a["text"] for a in after["answers"])
        fresh = client.get("/api/search", params={"q": question, "k": 5}).json()
        assert fresh["index_version"] == after["index_version"]
        assert any("Tell your care team." in r["text"] for r in fresh["results"])


def test_a_cached_question_in_a_faulty_body_still_gets_the_routes_error(
    server: LiveServer, client: httpx.Client
) -> None:
    question = "How long do the effects of ketamine last?"
    assert client.post("/api/chat", json={"message": question}).status_code == 200
    extra = client.post("/api/chat", json={"message": question, "user": "me"})
    assert extra.status_code == 422
    assert "user" in extra.json()["detail"]
    wrong_type = client.post(
        "/api/chat", content=f'{{"message": "{question}"}}', headers={"content-type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    too_long = client.post("/api/chat", json={"message": question + " " * 2500})
    assert too_long.status_code == 422


def test_a_repeated_unanswered_question_is_logged_each_time(
    tmp_path: Path, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    settings = make_settings(tmp_path, index_dir)
    question = "Where can I park my car near the clinic?"
    with LiveServer(settings, embedder) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        storage = live.app.state.storage
        for _ in range(3):
            reply = client.post("/api/chat", json={"message": question}).json()
            assert not reply["matched"]
        assert live.app.state.replies.hits >= 2
        assert storage.questions.total() == 3
        before = sum(storage.crisis_counts().values())
        for _ in range(2):
            assert client.post("/api/chat", json={"message": "I want to end my life"}).json()["crisis"]
        assert sum(storage.crisis_counts().values()) == before + 2
