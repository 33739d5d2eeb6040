"""Hardening as an attacker or a careless client meets it: bad input, oversized and mistyped bodies,
unknown routes, floods from one client, forged X-Forwarded-For, and the browser security headers."""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, make_settings
from fastapi import FastAPI
from starlette.testclient import TestClient

from bot.embedding import SentenceTransformerEmbedder
from bot.web.app import create_app
from bot.web.security import MAX_BODY_BYTES

JSON = {"content-type": "application/json"}


def build(tmp: Path, index_dir: Path, embedder: SentenceTransformerEmbedder, **extra: object) -> FastAPI:
    return create_app(make_settings(tmp, index_dir, admin_token="test-admin-token", **extra), embedder)


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> Iterator[TestClient]:
    app = build(
        tmp_path_factory.mktemp("security"),
        index_dir,
        embedder,
        rate_limit="0",
        search_rate_limit="0",
        admin_rate_limit="0",
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


# Each bad input, what it must get, and a phrase the JSON message must contain.
BAD_INPUTS = [
    ("chat: empty message", "POST", "/api/chat", {"json": {"message": ""}}, 422, "message"),
    ("chat: only spaces", "POST", "/api/chat", {"json": {"message": "   \t  "}}, 422, "must not be empty"),
    ("chat: only control chars", "POST", "/api/chat", {"json": {"message": "\x00\x07\x1b\x7f"}}, 422, "empty"),
    ("chat: 501 characters", "POST", "/api/chat", {"json": {"message": "a" * 501}}, 422, "at most 500"),
    ("chat: 5000 characters", "POST", "/api/chat", {"json": {"message": "a" * 5000}}, 422, "message"),
    ("chat: message is a number", "POST", "/api/chat", {"json": {"message": 42}}, 422, "message"),
    ("chat: message is null", "POST", "/api/chat", {"json": {"message": None}}, 422, "message"),
    ("chat: message missing", "POST", "/api/chat", {"json": {}}, 422, "message: Field required"),
    ("chat: unknown field", "POST", "/api/chat", {"json": {"message": "hi", "admin": True}}, 422, "admin"),
    ("chat: body is a list", "POST", "/api/chat", {"json": ["message"]}, 422, "valid dictionary"),
    ("chat: broken JSON", "POST", "/api/chat", {"content": b'{"message": ', "headers": JSON}, 422, "JSON"),
    ("chat: not UTF-8", "POST", "/api/chat", {"content": b'{"message": "\xff\xfe"}', "headers": JSON}, 400, "UTF-8"),
    ("chat: lone surrogate", "POST", "/api/chat", {"content": b'{"message": "\\ud800"}', "headers": JSON}, 422, ""),
    ("chat: no body", "POST", "/api/chat", {}, 422, "Field required"),
    ("chat: form body", "POST", "/api/chat", {"data": {"message": "hi"}}, 415, "application/json"),
    (
        "chat: text/plain",
        "POST",
        "/api/chat",
        {"content": b'{"message":"hi"}', "headers": {"content-type": "text/plain"}},
        415,
        "text/plain",
    ),
    ("search: q missing", "GET", "/api/search", {}, 422, "q: Field required"),
    ("search: q empty", "GET", "/api/search", {"params": {"q": ""}}, 422, "q: must not be empty"),
    ("search: q 501 characters", "GET", "/api/search", {"params": {"q": "b" * 501}}, 422, "at most 500"),
    ("search: q NUL bytes", "GET", "/api/search", {"params": {"q": "\x00\x00"}}, 422, "empty"),
    ("search: k = 0", "GET", "/api/search", {"params": {"q": "dose", "k": 0}}, 422, "k: "),
    ("search: k = 51", "GET", "/api/search", {"params": {"q": "dose", "k": 51}}, 422, "k: "),
    ("search: k = -1", "GET", "/api/search", {"params": {"q": "dose", "k": -1}}, 422, "k: "),
    ("search: k = ten", "GET", "/api/search", {"params": {"q": "dose", "k": "ten"}}, 422, "k: "),
    ("search: k huge", "GET", "/api/search", {"params": {"q": "dose", "k": "9" * 40}}, 422, "k: "),
    (
        "feedback: unknown answer",
        "POST",
        "/api/feedback",
        {"json": {"answer_id": "nope#1", "helpful": True}},
        404,
        "no answer",
    ),
    (
        "feedback: helpful is text",
        "POST",
        "/api/feedback",
        {"json": {"answer_id": "x", "helpful": "very"}},
        422,
        "helpful",
    ),
    ("feedback: empty id", "POST", "/api/feedback", {"json": {"answer_id": "", "helpful": True}}, 422, "answer_id"),
    (
        "feedback: 201-char id",
        "POST",
        "/api/feedback",
        {"json": {"answer_id": "x" * 201, "helpful": True}},
        422,
        "answer_id",
    ),
    ("unknown route", "GET", "/api/nothing-here", {}, 404, "no such page or API route: /api/nothing-here"),
    ("path traversal", "GET", "/static/../../etc/passwd", {}, 404, ""),
    ("wrong method on chat", "GET", "/api/chat", {}, 405, "GET is not allowed on /api/chat"),
    ("wrong method on search", "DELETE", "/api/search", {}, 405, "not allowed"),
    ("body over 16 KiB", "POST", "/api/chat", {"json": {"message": "x" * MAX_BODY_BYTES}}, 413, "larger than"),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "phrase"), [case[1:] for case in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_gets_a_clear_json_error_never_a_500(
    api: TestClient, method: str, path: str, kwargs: dict[str, object], status: int, phrase: str
) -> None:
    response = api.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-content-type-options"] == "nosniff"
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert detail
    assert phrase in detail
    assert "Traceback" not in response.text


def test_control_characters_are_stripped_before_the_question_is_answered(api: TestClient) -> None:
    clean = api.post("/api/chat", json={"message": "can ketamine make me dizzy?"}).json()
    noisy = api.post("/api/chat", json={"message": "\x00can ketamine\x07 make me dizzy?\x1b"}).json()
    assert noisy["matched"]
    assert [a["id"] for a in noisy["answers"]] == [a["id"] for a in clean["answers"]]


def test_security_headers_on_json_and_on_every_error(api: TestClient) -> None:
    for response in (
        api.get("/api/search", params={"q": "side effects"}),
        api.get("/healthz"),
        api.get("/no-such-page"),
        api.post("/api/chat", json={}),
    ):
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "camera=()" in headers["permissions-policy"]
        assert "microphone=()" in headers["permissions-policy"]
        assert "default-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert "server" not in headers
        assert len(headers["x-request-id"]) == 32
    ids = {api.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


def test_api_answers_are_not_cached_by_shared_caches(api: TestClient) -> None:
    assert api.post("/api/chat", json={"message": "what is ketamine?"}).headers["cache-control"] == "no-store"


def test_the_documentation_page_loads_nothing_from_elsewhere_and_the_schema_stays(api: TestClient) -> None:
    docs = api.get("/docs")
    assert docs.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert sources
    assert all(source.startswith("/") and not source.startswith("//") for source in sources)
    assert "<script>" not in docs.text  # no inline script: the CSP would block it
    assert api.get("/redoc").status_code == 404
    assert "/api/chat" in api.get("/openapi.json").json()["paths"]


def test_real_server_sends_no_server_header(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "server" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


def test_oversized_body_is_refused_from_its_content_length_before_it_is_sent(server: LiveServer) -> None:
    # Announce 100 MB and send none of it: the answer must come without the server waiting for the body.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/chat HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000000\r\n\r\n"
        )
        reply = sock.recv(65536).decode()
    assert reply.startswith("HTTP/1.1 413")
    assert json.loads(reply.split("\r\n\r\n", 1)[1])["detail"].startswith("the request body is larger than")


def test_streamed_body_without_length_is_cut_off_at_the_limit(client: httpx.Client) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"message": "'
        for _ in range(4096):  # up to 4 MiB, far more than the server may read
            sent += 1024
            yield b"a" * 1024

    try:
        response = client.post("/api/chat", content=chunks(), headers=JSON)
    except httpx.HTTPError:
        pytest.fail("the server dropped the connection instead of answering 413")
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


def test_unexpected_error_is_a_plain_500_and_is_logged_with_its_request_id(
    tmp_path: Path, index_dir: Path, embedder: SentenceTransformerEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    app = build(tmp_path, index_dir, embedder)

    def broken() -> None:
        raise RuntimeError("secret internal detail")

    # A route that fails the way a bug would, to see what a visitor gets when one slips through.
    app.add_api_route("/api/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as api, caplog.at_level(logging.ERROR, logger="bot.web"):
        response = api.get("/api/broken")
    assert response.status_code == 500
    body = response.json()
    request_id = response.headers["x-request-id"]
    assert body["request_id"] == request_id
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged
    assert logged[0].exc_info is not None


def behind_a_proxy(**limits: str) -> Any:
    """A module fixture: the app with ``limits``, behind a trusted proxy on 127.0.0.1; each test names its
    clients in X-Forwarded-For."""

    @pytest.fixture(scope="module")
    def fixture(
        tmp_path_factory: pytest.TempPathFactory, index_dir: Path, embedder: SentenceTransformerEmbedder
    ) -> Iterator[TestClient]:
        app = build(tmp_path_factory.mktemp("proxied"), index_dir, embedder, trusted_proxies=["127.0.0.1"], **limits)
        with TestClient(app, client=("127.0.0.1", 40000)) as client:
            yield client

    return fixture


limited = behind_a_proxy(rate_limit="3/minute", search_rate_limit="3/minute", admin_rate_limit="2/minute")


def test_a_client_over_its_limit_gets_429_with_retry_after(limited: TestClient) -> None:
    me = {"x-forwarded-for": "198.51.100.7"}
    statuses = [limited.get("/api/search", params={"q": "dose"}, headers=me).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = limited.get("/api/search", params={"q": "dose"}, headers=me)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "too many requests" in refused.json()["detail"]
    assert refused.headers["x-content-type-options"] == "nosniff"
    # Other clients behind the trusted proxy, and unlimited routes, are not affected.
    assert limited.get("/api/search", params={"q": "dose"}, headers={"x-forwarded-for": "198.51.100.8"}).is_success
    assert limited.get("/healthz", headers=me).status_code == 200
    # Chat has its own allowance.
    assert limited.post("/api/chat", json={"message": "dose"}, headers=me).status_code == 200


def test_admin_routes_have_a_stricter_shared_limit(limited: TestClient) -> None:
    me = {"x-forwarded-for": "198.51.100.20"}
    statuses = [limited.get("/admin/report", headers=me).status_code for _ in range(2)]
    assert 429 not in statuses
    # Guessing tokens anywhere under /admin draws on the same small allowance.
    assert limited.post("/admin/reload", headers={**me, "authorization": "Bearer guess"}).status_code == 429


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    tmp_path: Path, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    app = build(tmp_path, index_dir, embedder, rate_limit="2/minute", search_rate_limit="2/minute")
    with TestClient(app, client=("203.0.113.9", 40000)) as api:
        statuses = [
            api.get("/api/search", params={"q": "dose"}, headers={"x-forwarded-for": f"10.0.0.{n}"}).status_code
            for n in range(3)
        ]
    # Rotating a forged X-Forwarded-For does not buy a fresh allowance.
    assert statuses == [200, 200, 429]


def test_zero_switches_the_limit_off(api: TestClient) -> None:
    assert all(api.get("/api/search", params={"q": "dose", "k": 1}).status_code == 200 for _ in range(40))


def test_cors_is_off_unless_origins_are_configured(
    api: TestClient, tmp_path: Path, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    preflight = {"origin": "https://clinic.example", "access-control-request-method": "POST"}
    assert "access-control-allow-origin" not in api.options("/api/chat", headers=preflight).headers
    assert "access-control-allow-origin" not in api.get("/healthz", headers={"origin": "https://evil.example"}).headers

    app = build(tmp_path, index_dir, embedder, cors_origins=["https://clinic.example"])
    with TestClient(app) as cors:
        allowed = cors.options("/api/chat", headers={**preflight, "access-control-request-headers": "content-type"})
        assert allowed.headers["access-control-allow-origin"] == "https://clinic.example"
        other = cors.options("/api/chat", headers={**preflight, "origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=|javascript:", re.IGNORECASE)


@pytest.mark.parametrize("path", ["/", "/staff", "/staff?q=dose", "/embed", "/admin"])
def test_html_pages_need_no_unsafe_inline_and_cannot_be_framed(api: TestClient, path: str) -> None:
    response = api.get(path)
    assert response.status_code in (200, 401), response.text
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "geolocation=()" in response.headers["permissions-policy"]
    assert INLINE.findall(response.text) == []
    if path != "/embed":
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-frame-options"] == "DENY"


def test_only_the_embed_page_may_be_framed_and_only_by_the_configured_sites(
    tmp_path: Path, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    app = build(tmp_path, index_dir, embedder, embed_origins=["https://clinic.example", "https://www.clinic.example"])
    with TestClient(app) as api:
        embed = api.get("/embed")
        page = api.get("/")
    assert (
        "frame-ancestors https://clinic.example https://www.clinic.example" in embed.headers["content-security-policy"]
    )
    assert "x-frame-options" not in embed.headers
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_no_embed_origins_means_nobody_may_frame_the_widget(api: TestClient) -> None:
    assert "frame-ancestors 'none'" in api.get("/embed").headers["content-security-policy"]


def test_the_no_javascript_form_shares_the_chat_limit(
    tmp_path: Path, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    app = build(tmp_path, index_dir, embedder, rate_limit="2/minute", search_rate_limit="2/minute")
    with TestClient(app) as api:
        first = api.post("/api/chat", json={"message": "dose"}).status_code
        second = api.post("/", data={"message": "dose"}).status_code
        third = api.post("/embed", data={"message": "dose"}).status_code
    assert (first, second, third) == (200, 200, 429)


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("GET", "/staff?q=my+name+is+jane+can+i+drive", None),
        ("POST", "/", {"message": "my name is jane, can I drive after ketamine?"}),
        ("POST", "/embed", {"message": "my name is jane, can I drive after ketamine?"}),
        ("GET", "/", None),
    ],
)
def test_pages_that_show_a_question_are_kept_by_no_cache(
    api: TestClient, method: str, path: str, data: dict[str, str] | None
) -> None:
    """A shared computer's browser cache or a proxy must not keep a page that echoes what was asked."""
    response = api.request(method, path, data=data)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert api.get("/static/site.css").headers.get("cache-control") != "no-store"


floods = behind_a_proxy(feedback_rate_limit="4/minute", feedback_answer_limit="6/hour", question_log_limit="3/hour")


def answer_id(client: TestClient, n: int) -> str:
    """The id of the n-th passage served: each test votes on a passage of its own."""
    return str(client.app.state.assistant.retriever.index.passages[n].id)  # type: ignore[attr-defined]


def vote(client: TestClient, answer: str, address: str, voter: str | None = None, helpful: bool = False) -> int:
    body: dict[str, object] = {"answer_id": answer, "helpful": helpful}
    if voter is not None:
        body["voter"] = voter
    return client.post("/api/feedback", json=body, headers={"x-forwarded-for": address}).status_code


def test_one_vote_per_answer_and_reply_a_change_replaces_it(floods: TestClient) -> None:
    answer = answer_id(floods, 0)
    voter = "a1b2c3d4e5f6a7b8c9d0"
    assert [vote(floods, answer, "198.51.100.30", voter) for _ in range(3)] == [204, 204, 204]
    assert vote(floods, answer, "198.51.100.30", voter, helpful=True) == 204
    rating = {r.answer_id: r for r in floods.app.state.storage.ratings()}  # type: ignore[attr-defined]
    assert answer not in rating or rating[answer].unhelpful == 0
    assert vote(floods, answer, "198.51.100.31", "not a voter id!") == 422


def test_votes_on_one_answer_are_capped_whoever_sends_them(floods: TestClient) -> None:
    """Many addresses voting one passage down: the answer takes its allowance, then 429."""
    answer = answer_id(floods, 1)
    statuses = [vote(floods, answer, f"203.0.113.{n}") for n in range(1, 10)]
    assert statuses == [204] * 6 + [429] * 3
    rating = {r.answer_id: r for r in floods.app.state.storage.ratings()}  # type: ignore[attr-defined]
    assert rating[answer].unhelpful == 6


def test_votes_per_client_are_limited_and_an_ipv6_64_is_one_client(floods: TestClient) -> None:
    answer = answer_id(floods, 2)
    same_64 = [f"2001:db8:1:2::{n:x}" for n in range(1, 6)]
    assert [vote(floods, answer, address) for address in same_64] == [204, 204, 204, 204, 429]
    assert vote(floods, answer, "2001:db8:1:3::1") == 204  # the next /64 is someone else


def test_one_client_cannot_fill_the_question_log(floods: TestClient) -> None:
    log = floods.app.state.storage.questions  # type: ignore[attr-defined]
    before = log.total()
    for n in range(6):
        message = {"message": f"do you sell parking permit number {n} for the garage"}
        assert floods.post("/api/chat", json=message, headers={"x-forwarded-for": "198.51.100.77"}).is_success
    assert log.total() == before + 3
    other = {"x-forwarded-for": "198.51.100.78"}
    assert floods.post("/api/chat", json={"message": "is the garage open on sundays"}, headers=other).is_success
    assert log.total() == before + 4
