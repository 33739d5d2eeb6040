"""What operators and integrators read: Prometheus metrics at /metrics (closed unless opened to listed
addresses, added up across workers) and the interactive API docs at /docs, served without a CDN."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, make_settings
from playwright.sync_api import Browser, ConsoleMessage, Request, expect
from prometheus_client.parser import text_string_to_metric_families

from bot.embedding import SentenceTransformerEmbedder
from bot.index import INDEX_FILE
from bot.ops.server import Server


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in a scrape (0 when it is not there yet)."""
    for family in text_string_to_metric_families(text):
        for item in family.samples:
            if item.name == name and all(item.labels.get(key) == value for key, value in labels.items()):
                return float(item.value)
    return 0.0


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path_factory.mktemp("metrics"), index_dir, metrics_allow=["127.0.0.0/8"])
    with LiveServer(settings, embedder) as live:
        yield live


def scrape(server: LiveServer) -> str:
    response = httpx.get(server.url + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def test_metrics_are_closed_unless_an_address_is_listed(
    tmp_path: Path, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    with LiveServer(make_settings(tmp_path, index_dir), embedder) as closed:
        refused = httpx.get(closed.url + "/metrics", timeout=10)
    assert refused.status_code == 403
    assert "FAQBOT_METRICS_ALLOW" in refused.json()["detail"]
    assert "faqbot_requests" not in refused.text


def test_replies_are_counted_by_outcome_route_and_status(server: LiveServer) -> None:
    before = scrape(server)
    with httpx.Client(base_url=server.url, timeout=30) as visitor:
        assert visitor.post("/api/chat", json={"message": "Can ketamine make me dizzy?"}).json()["matched"]
        assert not visitor.post("/api/chat", json={"message": "What is the capital of Peru?"}).json()["matched"]
        assert visitor.post("/api/chat", json={"message": "I want to end my life"}).json()["crisis"]
        assert visitor.post("/api/chat", json={"message": ""}).status_code == 422
        assert visitor.get("/no/such/page").status_code == 404
    after = scrape(server)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("faqbot_replies_total", outcome="answered") == 1
    assert grew("faqbot_replies_total", outcome="fallback") == 1
    assert grew("faqbot_replies_total", outcome="crisis") == 1
    assert grew("faqbot_requests_total", route="/api/chat", method="POST", status="200") == 3
    assert grew("faqbot_requests_total", route="/api/chat", method="POST", status="422") == 1
    # A visitor's made-up path makes no series of its own.
    assert grew("faqbot_requests_total", route="other", method="GET", status="404") == 1
    assert "/no/such/page" not in after
    assert grew("faqbot_request_duration_seconds_count", route="/api/chat") == 4


def test_cache_hits_and_the_served_index_version_are_shown(server: LiveServer) -> None:
    version = httpx.get(server.url + "/readyz", timeout=10).json()["index_version"]
    question = {"message": "How many ketamine sessions will I need for depression?"}
    before = scrape(server)
    with httpx.Client(base_url=server.url, timeout=30) as visitor:
        for _ in range(3):
            assert visitor.post("/api/chat", json=question).status_code == 200
        for _ in range(2):
            assert visitor.get("/api/search", params={"q": "nasal spray dose"}).status_code == 200
    after = scrape(server)
    assert (
        sample(after, "faqbot_cache_hits_total", cache="replies")
        - sample(before, "faqbot_cache_hits_total", cache="replies")
        == 2
    )
    assert (
        sample(after, "faqbot_cache_hits_total", cache="results")
        - sample(before, "faqbot_cache_hits_total", cache="results")
        == 1
    )
    assert sample(after, "faqbot_index_info", index_version=version) == 1


def test_a_refused_release_is_counted(tmp_path: Path, index_dir: Path, embedder: SentenceTransformerEmbedder) -> None:
    index = tmp_path / "index"
    shutil.copytree(index_dir, index)
    settings = make_settings(tmp_path, index, admin_token="metrics-token", metrics_allow=["127.0.0.1"])
    with LiveServer(settings, embedder) as live:
        before = sample(scrape(live), "faqbot_release_refusals_total")
        vectors = index / INDEX_FILE
        vectors.write_bytes(vectors.read_bytes()[: vectors.stat().st_size // 2])
        refused = httpx.post(live.url + "/admin/reload", headers={"authorization": "Bearer metrics-token"}, timeout=60)
        assert refused.status_code == 409
        assert sample(scrape(live), "faqbot_release_refusals_total") == before + 1


@pytest.mark.slow
def test_metrics_add_up_every_worker(tmp_path: Path, index_dir: Path) -> None:
    environment = {
        "FAQBOT_INDEX_DIR": str(index_dir),
        "FAQBOT_DATABASE": f"sqlite:///{tmp_path / 'faqbot.sqlite3'}",
        "FAQBOT_METRICS_ALLOW": "127.0.0.1",
        "FAQBOT_RATE_LIMIT": "0",
        "FAQBOT_SEARCH_RATE_LIMIT": "0",
    }
    replica = Server(environment, tmp_path / "serve.log", workers=2).start()
    try:
        replica.wait_ready()
        # Separate connections, so that both workers take some of them.
        for n in range(40):
            httpx.get(replica.url + "/api/search", params={"q": f"dose {n}"}, timeout=30).raise_for_status()
        text = ""
        for _ in range(4):  # whichever worker answers the scrape, it counts all of them
            text = httpx.get(replica.url + "/metrics", timeout=10).text
            assert sample(text, "faqbot_requests_total", route="/api/search", method="GET", status="200") == 40
        version = httpx.get(replica.url + "/readyz", timeout=10).json()["index_version"]
        assert sample(text, "faqbot_index_info", index_version=version) == 1
    finally:
        replica.stop()


@pytest.mark.browser
def test_the_api_docs_work_in_a_browser_with_nothing_from_elsewhere(browser: Browser, server: LiveServer) -> None:
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    elsewhere: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    def on_request(request: Request) -> None:
        if not request.url.startswith((server.url, "data:")):
            elsewhere.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", on_request)
    try:
        response = page.goto(server.url + "/docs")
        assert response is not None
        assert "default-src 'self'" in response.headers["content-security-policy"]
        chat = page.locator(".opblock-summary-path", has_text="/api/chat").first
        expect(chat).to_be_visible()
        chat.click()
        expect(page.locator(".opblock-body").first).to_contain_text("message")
        assert errors == [], f"console errors (a CSP violation?): {errors}"
        assert elsewhere == []
    finally:
        context.close()


def test_the_docs_serve_only_the_files_the_page_needs(server: LiveServer) -> None:
    assert httpx.get(server.url + "/docs/swagger-ui-bundle.js", timeout=10).status_code == 200
    assert httpx.get(server.url + "/docs/index.html", timeout=10).status_code == 404
    assert httpx.get(server.url + "/docs/..%2Fswagger-ui.css", timeout=10).status_code == 404
