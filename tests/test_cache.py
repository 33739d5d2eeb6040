"""The reply cache: a repeated question is answered from memory, exactly as it would be without it,
and a new release is never answered from the old one's entries."""

from __future__ import annotations

from pathlib import Path

import httpx
from conftest import LiveServer, make_settings

from bot.assistant import load_retriever
from bot.cache import ReplyCache, normalise
from bot.content.checks import build
from bot.embedding import SentenceTransformerEmbedder


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
