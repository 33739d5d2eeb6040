"""Session-wide fixtures: the real bundled model, a real index built from the project's knowledge,
and a real server on loopback. Each is built once; tests that change things make their own copies."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, sync_playwright

from bot.assistant import Assistant, load_assistant
from bot.content.checks import build
from bot.embedding import SentenceTransformerEmbedder
from bot.ops.localservices import REDIS_SERVER, PostgresServer, RedisServer, postgres_bin
from bot.ops.server import free_port
from bot.serving import uvicorn_options
from bot.settings import PROJECT_ROOT, Settings
from bot.web.app import create_app

os.environ.setdefault("HF_HUB_OFFLINE", "1")
KNOWLEDGE = PROJECT_ROOT / "knowledge"
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Path:
    """The project's knowledge, built once into a temporary folder. Treat it as read-only."""
    folder = tmp_path_factory.mktemp("built") / "index"
    build(KNOWLEDGE, folder, embedder)
    return folder


def make_settings(tmp: Path, index_dir: Path, knowledge_dir: Path = KNOWLEDGE, **extra: object) -> Settings:
    # Every test client comes from one loopback address: rate limits are off unless a test sets them.
    extra = {
        "rate_limit": "0",
        "search_rate_limit": "0",
        "admin_rate_limit": "0",
        "feedback_rate_limit": "0",
        "feedback_answer_limit": "0",
        "question_log_limit": "0",
        **extra,
    }
    return Settings(
        knowledge_dir=knowledge_dir,
        index_dir=index_dir,
        database=f"sqlite:///{tmp / 'faqbot.sqlite3'}",
        _env_file=None,  # type: ignore[call-arg]
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, index_dir: Path) -> Settings:
    return make_settings(tmp_path_factory.mktemp("db"), index_dir, admin_token="test-admin-token")


@pytest.fixture(scope="session")
def assistant(settings: Settings, embedder: SentenceTransformerEmbedder) -> Assistant:
    return load_assistant(settings, embedder)


class LiveServer:
    """A real uvicorn server on loopback, in a thread of the test process."""

    def __init__(self, settings: Settings, embedder: SentenceTransformerEmbedder) -> None:
        self.app = create_app(settings, embedder)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # As `serve` does: its limits on reading requests, and X-Forwarded-For left to the app.
        options = uvicorn_options(settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def server(settings: Settings, embedder: SentenceTransformerEmbedder) -> Iterator[LiveServer]:
    with LiveServer(settings, embedder) as live:
        yield live


@pytest.fixture(scope="session")
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL on loopback for the session; each test takes a fresh database with ``.database()``."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("POSTGRESQL TESTS SKIPPED: no initdb or pg_ctl. Install them: apt-get install -y postgresql")
    server = PostgresServer(bin_dir).init()
    yield server
    server.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real Redis on loopback for one test, stopped afterwards."""
    if not Path(REDIS_SERVER).exists():
        pytest.skip("REDIS TESTS SKIPPED: no redis-server. Install it: apt-get install -y redis-server")
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def knowledge_copy(tmp_path: Path) -> Path:
    """A writable copy of the project's knowledge folder."""
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    return target


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test that drives Chromium is slow, whether or not it carries the browser marker.
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()) or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright (never `playwright install`: no downloads)."""
    if not CHROMIUM.exists():
        pytest.skip(f"BROWSER TESTS SKIPPED: no {CHROMIUM}. Install it: apt-get install -y chromium (CI does).")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
