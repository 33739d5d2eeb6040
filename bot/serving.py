"""Serving: how the server reads requests (uvicorn's own settings, chosen on purpose, and the limits it
lacks), and ``faqbot serve``'s checks at start.

uvicorn parses HTTP with httptools (a C parser), which takes headers of any size and in any number and
waits for the rest of a request for ever. ``RequestGuard`` is that protocol with three limits added,
each answered before the app sees the request:

- the header section (request line and headers) may hold ``MAX_HEADER_BYTES``; past that the
  connection gets 431 and is closed at once, so an endless header costs 16 KiB, not memory without end;
- at most ``MAX_HEADERS`` headers (431);
- a whole request, headers and body, must arrive within ``FAQBOT_REQUEST_TIMEOUT`` seconds of its first
  byte (or of the connection opening): a request that stalls gets 408 and its connection is closed.

h11 (uvicorn's other parser) bounds the header section by itself, but it is pure Python, and it has no
header count or read deadline either; so the faster parser stays and gets the limits here.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bot.settings import Settings

MAX_HEADER_BYTES = 16 * 1024  # what h11 allows, and four of nginx's 4 KiB header buffers
MAX_HEADERS = 100  # what Python's http.client accepts
KEEP_ALIVE_SECONDS = 5  # an idle connection between two requests is closed after this long
SHUTDOWN_SECONDS = 30  # on SIGTERM, requests in flight may finish for this long
END_OF_HEADERS = b"\r\n\r\n"
# The web app, named as uvicorn imports it (every worker builds its own from the environment): the core
# serves the web layer without importing it.
WEB_APP = "bot.web.app:create_app"


def _refusal(status: int, reason: str, detail: str) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


TOO_LARGE = _refusal(431, "Request Header Fields Too Large", f"the headers are larger than {MAX_HEADER_BYTES} bytes")
TOO_MANY = f"more than {MAX_HEADERS} headers"


async def _too_many_headers(scope: Any, receive: Any, send: Any) -> None:
    """The app a request with too many headers gets instead of ours: 431, and the connection closes."""
    body = json.dumps({"detail": TOO_MANY}).encode()
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 431, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestGuard(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header size limit, a header count limit and a read deadline."""

    read_timeout: ClassVar[float | None] = None  # None: FAQBOT_REQUEST_TIMEOUT, read once per process

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if type(self).read_timeout is None:
            type(self).read_timeout = Settings().request_timeout
        self.deadline: asyncio.TimerHandle | None = None
        self.reading_headers = True
        self.header_bytes = 0
        self.tail = b""  # the last bytes of the header section so far, to find its end across reads
        self.header_count = 0

    def _arm(self) -> None:
        self._disarm()
        assert self.read_timeout is not None
        self.deadline = self.loop.call_later(self.read_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _too_slow(self) -> None:
        self.deadline = None
        if self.transport.is_closing():
            return
        if self.reading_headers:
            detail = f"the request did not arrive within {self.read_timeout:g} seconds"
            self.transport.write(_refusal(408, "Request Timeout", detail))
        # A body that stalls: the route waiting for it is told the client went away.
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.reading_headers and self._over_header_limit(data):
            self._disarm()
            self.transport.write(TOO_LARGE)
            self.transport.close()
            return
        super().data_received(data)

    def _over_header_limit(self, data: bytes) -> bool:
        seen = self.header_bytes
        self.header_bytes += len(data)
        if self.header_bytes <= MAX_HEADER_BYTES:
            self.tail = (self.tail + data)[-3:]
            return False
        # This read holds more than the limit allows: fine only if the headers end within it.
        end = (self.tail + data).find(END_OF_HEADERS)
        return end < 0 or seen - len(self.tail) + end + len(END_OF_HEADERS) > MAX_HEADER_BYTES

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self.reading_headers:  # the next request on a kept-alive connection
            self.reading_headers, self.header_bytes, self.tail, self.header_count = True, 0, b"", 0
        self._arm()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_count += 1
        if self.header_count <= MAX_HEADERS:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.reading_headers = False
        if self.header_count <= MAX_HEADERS:
            super().on_headers_complete()
            return
        app, self.app = self.app, _too_many_headers
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()


def http_protocol(settings: Settings) -> type[RequestGuard]:
    """``RequestGuard`` with this process's read deadline (several workers read it from the environment)."""
    return type("RequestGuard", (RequestGuard,), {"read_timeout": settings.request_timeout})


def uvicorn_options(settings: Settings, workers: int = 1) -> dict[str, Any]:
    """What ``faqbot serve`` (and the tests' live server) give uvicorn, beside the host and port."""
    return {
        # Worker processes import the protocol by name; one process takes it with this settings' deadline.
        "http": http_protocol(settings) if workers == 1 else f"{__name__}:RequestGuard",
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        # Past this many open connections (per worker) a new request gets 503 at once.
        "limit_concurrency": settings.max_connections,
        "server_header": False,
        # X-Forwarded-For is honoured only from FAQBOT_TRUSTED_PROXIES, by the app itself.
        "proxy_headers": False,
        "timeout_graceful_shutdown": SHUTDOWN_SECONDS,
    }


def check_servable(settings: Settings) -> None:
    """Check the index and the crisis lists before any model is loaded, so that a bad index is one line at
    start, not a traceback per worker; the app then loads everything once, in its lifespan. Raises
    ``IndexRefused``."""
    from bot.index import IndexRefused, load_index, read_manifest
    from bot.reload import refuse_empty
    from bot.safety import SAFETY_FOLDER, check_safety_files

    manifest = read_manifest(settings.index_dir)
    refuse_empty(manifest, settings.index_dir)
    load_index(settings.index_dir, settings.model, manifest.dimension)
    problems = check_safety_files(settings.index_dir / SAFETY_FOLDER)
    if problems:
        raise IndexRefused("the crisis lists have problems:\n" + "\n".join(map(str, problems)))


def run_server(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """Serve the app (``WEB_APP``, built from the environment) until SIGTERM; requests in flight finish."""
    options: dict[str, Any] = {"host": host, "port": port, "log_level": "info", **uvicorn_options(settings, workers)}
    # Several workers each build their own app from the same environment, and write their metrics where
    # /metrics adds up every worker's (a fresh folder each start: no figures from a past run).
    folder = tempfile.mkdtemp(prefix="faqbot-metrics-") if workers > 1 else None
    if folder is not None:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    try:
        uvicorn.run(WEB_APP, factory=True, workers=workers, **options)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
