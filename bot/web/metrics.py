"""Prometheus metrics at ``GET /metrics``, for operators, through ``prometheus-client``.

- ``faqbot_requests_total{route,method,status}`` and ``faqbot_request_duration_seconds{route}``: every
  request, by the route that took it (its path template, so visitors' paths make no new series);
- ``faqbot_replies_total{outcome}``: chat replies, ``answered``, ``fallback`` or ``crisis``;
- ``faqbot_cache_hits_total{cache}``: replies (``replies``) and staff searches (``results``) from memory;
- ``faqbot_index_info{index_version}``: 1 for the release a process serves;
- ``faqbot_release_refusals_total``: releases this process checked and refused (the old one kept serving).

With several workers (``serve --workers N``) each process writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` (``serve`` sets it) and a scrape adds them up, so the figures cover every
worker whichever one answers. ``/metrics`` is closed (403) except to the addresses in
``FAQBOT_METRICS_ALLOW``: a client's address as ``FAQBOT_TRUSTED_PROXIES`` makes it.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Sequence

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("faqbot_requests", "HTTP requests answered", ["route", "method", "status"])
LATENCY = Histogram("faqbot_request_duration_seconds", "Time to answer a request", ["route"], buckets=BUCKETS)
REPLIES = Counter("faqbot_replies", "Chat replies by outcome: answered, fallback or crisis", ["outcome"])
CACHE_HITS = Counter("faqbot_cache_hits", "Replies and staff searches answered from memory", ["cache"])
INDEX = Gauge(
    "faqbot_index_info", "1 for the index version a process serves", ["index_version"], multiprocess_mode="livemax"
)

REFUSALS = Counter("faqbot_release_refusals", "Releases checked and refused; the old one kept serving")

router = APIRouter()


def reply_outcome(matched: bool, crisis: bool) -> None:
    REPLIES.labels("crisis" if crisis else "answered" if matched else "fallback").inc()


def cache_hit(cache: str) -> None:
    CACHE_HITS.labels(cache).inc()


def release_refused(error: Exception) -> None:
    REFUSALS.inc()


class ServedVersion:
    """Keeps ``faqbot_index_info`` on the version this process serves: 1 for it, 0 for the one before."""

    def __init__(self) -> None:
        self.version: str | None = None

    def update(self, version: str) -> None:
        if version != self.version:
            if self.version is not None:
                INDEX.labels(self.version).set(0)
            INDEX.labels(version).set(1)
            self.version = version


SERVED = ServedVersion()


STATIC_PREFIX = "/static/"
CHAT_PATH = "/api/chat"  # answered before routing when the reply is cached (bot/web/repeats.py)


def route_label(scope: Scope) -> str:
    """The path template of the route that took this request ("/admin/export/{name}.csv"), or "other".

    Read after the request, from what routing left in the scope, so that a visitor's made-up path makes
    no series of its own."""
    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path", "other"))
    path: str = scope["path"]
    if path == CHAT_PATH:
        return CHAT_PATH
    return "/static" if path.startswith(STATIC_PREFIX) else "other"


class RequestMetrics:
    """Counts and times every request by route and status; outermost but for the security headers."""

    def __init__(self, app: ASGIApp, state: object) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = route_label(scope)
            REQUESTS.labels(route, scope["method"], str(status)).inc()
            LATENCY.labels(route).observe(time.perf_counter() - started)
            assistant = getattr(self.state, "assistant", None)
            if assistant is not None:
                SERVED.update(assistant.retriever.version)


def allowed(client: str | None, networks: Sequence[str]) -> bool:
    if client is None:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)


def registry() -> CollectorRegistry:
    """Every worker's figures when several write to ``PROMETHEUS_MULTIPROC_DIR``; this process's otherwise."""
    if not os.environ.get(MULTIPROCESS_DIR):
        return REGISTRY
    combined = CollectorRegistry()
    multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
    return combined


def process_exited() -> None:
    """A worker that stops takes its served version out of ``faqbot_index_info``."""
    if os.environ.get(MULTIPROCESS_DIR):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    networks: list[str] = request.app.state.settings.metrics_allow
    client = request.client.host if request.client else None
    if not allowed(client, networks):
        return JSONResponse({"detail": "metrics are open only to the addresses in FAQBOT_METRICS_ALLOW"}, 403)
    assistant = request.app.state.assistant
    if assistant is not None:
        SERVED.update(assistant.retriever.version)
    return Response(generate_latest(registry()), media_type=CONTENT_TYPE_LATEST)
