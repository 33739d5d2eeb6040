"""Rate limits shared through a real Redis: one allowance per visitor, whichever replica they reach,
and visitors still answered while Redis is down."""

from __future__ import annotations

from pathlib import Path

from conftest import make_settings
from starlette.testclient import TestClient

from bot.embedding import SentenceTransformerEmbedder
from bot.ops.localservices import RedisServer
from bot.web.app import create_app

PROXY = ("127.0.0.1", 40000)  # the load balancer, as each replica sees it


def replica(tmp: Path, index_dir: Path, embedder: SentenceTransformerEmbedder, store: str) -> TestClient:
    settings = make_settings(
        tmp, index_dir, rate_limit="3/minute", rate_limit_storage=store, trusted_proxies=["127.0.0.1"]
    )
    return TestClient(create_app(settings, embedder), client=PROXY, raise_server_exceptions=False)


def ask(replica: TestClient, visitor: str) -> int:
    reply = replica.post("/api/chat", json={"message": "dose"}, headers={"x-forwarded-for": visitor})
    return reply.status_code


def test_a_visitor_has_one_allowance_across_replicas_that_share_redis(
    tmp_path: Path, index_dir: Path, embedder: SentenceTransformerEmbedder, redis_server: RedisServer
) -> None:
    with (
        replica(tmp_path / "a", index_dir, embedder, redis_server.url) as first,
        replica(tmp_path / "b", index_dir, embedder, redis_server.url) as second,
    ):
        visitor = "198.51.100.7"
        statuses = [ask(first, visitor), ask(second, visitor), ask(first, visitor)]
        assert statuses == [200, 200, 200]
        assert ask(second, visitor) == 429
        assert ask(first, visitor) == 429
        # Another visitor behind the same balancer keeps a whole allowance.
        assert ask(second, "198.51.100.8") == 200


def test_each_replica_counts_alone_without_a_shared_store(
    tmp_path: Path, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    # The reason for the setting: with memory:// a visitor gets the allowance once per replica.
    with (
        replica(tmp_path / "a", index_dir, embedder, "memory://") as first,
        replica(tmp_path / "b", index_dir, embedder, "memory://") as second,
    ):
        assert [ask(first, "198.51.100.9") for _ in range(4)] == [200, 200, 200, 429]
        assert ask(second, "198.51.100.9") == 200


def test_visitors_are_answered_while_redis_is_down_and_counted_again_once_it_is_back(
    tmp_path: Path, index_dir: Path, embedder: SentenceTransformerEmbedder, redis_server: RedisServer
) -> None:
    with replica(tmp_path, index_dir, embedder, redis_server.url) as api:
        assert ask(api, "198.51.100.10") == 200
        redis_server.stop()
        # No 500 and no refusal: the answer matters more than the count.
        assert [ask(api, "198.51.100.10") for _ in range(5)] == [200] * 5
        redis_server.start()
        assert [ask(api, "198.51.100.11") for _ in range(4)] == [200, 200, 200, 429]
