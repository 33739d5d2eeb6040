"""Per-client rate limits, counted by the ``limits`` library (the one slowapi is built on).

Chat (and the page forms that do the same) allows ``FAQBOT_RATE_LIMIT`` per client, votes
``FAQBOT_FEEDBACK_RATE_LIMIT``; search, which the staff page runs as you type, allows
``FAQBOT_SEARCH_RATE_LIMIT``; every ``/admin`` route shares a stricter ``FAQBOT_ADMIN_RATE_LIMIT``,
which slows token guessing: only requests without a valid token or session count (the dashboard's
stylesheet is the site's one, under ``/static``), so an editor who is signed in can click as they like.
A page over a limit (a browser asking for HTML under ``/admin``) gets a page that says when to try again;
everything else gets JSON.
The client is the connecting address; ``ProxyHeadersMiddleware`` replaces it with the one in
``X-Forwarded-For`` only when the connection comes from a proxy in ``FAQBOT_TRUSTED_PROXIES``.
An IPv6 client counts by its /64 network (``client_key``).

This is a small ASGI middleware over ``limits`` rather than slowapi's decorators, so that the limits
cover routes by path (including the admin routes) without touching each route's signature.

With ``FAQBOT_RATE_LIMIT_STORAGE=redis://...`` every worker and replica counts in the same Redis, so a
client has one allowance whichever of them it reaches. While that store cannot be reached, requests
pass uncounted (logged once a minute): a visitor in crisis must get an answer even when Redis is down.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from typing import Any

import redis.asyncio
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.settings import Settings
from bot.web import admin
from bot.web.asgi import send_json
from bot.web.deps import templates

# Each visitor route counts in a bucket of its own; the no-JavaScript forms count with their API twins,
# so that they are no way around the limit.
VISITOR_BUCKETS = {
    ("*", "/api/chat"): "chat",
    ("POST", "/"): "chat",
    ("POST", "/embed"): "chat",
    ("*", "/api/search"): "search",
    ("*", "/api/related"): "search",
    ("GET", "/staff"): "search",
    ("*", "/api/feedback"): "feedback",
    ("POST", "/feedback"): "feedback",
}
ADMIN_PREFIX = "/admin"
REDIS_SCHEMES = ("redis://", "rediss://")
STORE_WARNING_EVERY = 60.0  # seconds between two log lines about an unreachable store

log = logging.getLogger("bot.web")


def async_storage_uri(uri: str) -> str:
    # The middleware runs on the event loop, so it uses the library's asyncio storage of the same kind.
    return uri if uri.startswith("async+") else f"async+{uri}"


def client_key(scope: Scope) -> str:
    """Who a request counts against: its address, and for IPv6 its /64 network, since one home or phone
    is given a whole /64 and could otherwise take a fresh allowance from each of its addresses."""
    client = scope.get("client")
    if not client:
        return "unknown"
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return str(client[0])
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class Allowance:
    """A per-client allowance counted in the same store as the limits, for what a route decides itself
    (how many unanswered questions of one client are kept); ``take`` says whether one more fits."""

    def __init__(self, store: LimitStore, rate: str, name: str) -> None:
        self.item = None if rate == "0" else parse(rate)
        self.name = name
        self.limiter = MovingWindowRateLimiter(store.storage)

    async def take(self, client: str) -> bool:
        if self.item is None:
            return True
        try:
            return await self.limiter.hit(self.item, self.name, client)
        except StorageError:
            return True  # the store is away: as with the limits, nothing is refused for it


class LimitStore:
    """Where the limits are counted (``FAQBOT_RATE_LIMIT_STORAGE``), opened once per app and closed with it.

    Redis is spoken through redis-py with a pool of our own, so that its connections close with the app;
    every store raises ``StorageError`` when it fails.
    """

    def __init__(self, uri: str) -> None:
        self.pool: redis.asyncio.ConnectionPool | None = None
        self.storage: Storage
        if uri.removeprefix("async+").startswith(REDIS_SCHEMES):
            url = uri.removeprefix("async+")
            self.pool = redis.asyncio.ConnectionPool.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
            pool: dict[str, Any] = {"connection_pool": self.pool}  # limits passes it on to redis-py
            self.storage = RedisStorage(async_storage_uri(url), implementation="redispy", wrap_exceptions=True, **pool)
        else:
            storage = storage_from_string(async_storage_uri(uri), wrap_exceptions=True)
            assert isinstance(storage, Storage)  # an async+ URI always gives an asyncio storage
            self.storage = storage

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()


class RateLimit:
    """429 with ``Retry-After`` once a client has used up its allowance on a limited route."""

    def __init__(self, app: ASGIApp, settings: Settings, store: LimitStore) -> None:
        self.app = app
        self.visitor = None if settings.rate_limit == "0" else parse(settings.rate_limit)
        self.search = None if settings.search_rate_limit == "0" else parse(settings.search_rate_limit)
        self.feedback = None if settings.feedback_rate_limit == "0" else parse(settings.feedback_rate_limit)
        self.admin = None if settings.admin_rate_limit == "0" else parse(settings.admin_rate_limit)
        self.limiter = MovingWindowRateLimiter(store.storage)
        self.store_warned = -math.inf

    def rule(self, scope: Scope) -> tuple[RateLimitItem | None, str]:
        """The limit for this request and the name of the bucket it counts in."""
        path: str = scope["path"]
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            return self.admin, ADMIN_PREFIX
        bucket = VISITOR_BUCKETS.get(("*", path)) or VISITOR_BUCKETS.get((scope["method"], path))
        if bucket == "search" and path == "/staff" and not scope["query_string"]:
            return None, ""  # opening the staff page searches nothing
        if bucket == "search":
            return self.search, bucket
        if bucket == "feedback":
            return self.feedback, bucket
        return (self.visitor, bucket) if bucket else (None, "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        item, bucket = self.rule(scope)
        if item is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if bucket == ADMIN_PREFIX and admin.signed_in(request):
            await self.app(scope, receive, send)
            return
        key = client_key(scope)
        try:
            allowed = await self.limiter.hit(item, bucket, key)
        except StorageError as error:
            self.warn_unreachable(error)
            allowed = True
        if allowed:
            await self.app(scope, receive, send)
            return
        try:
            stats = await self.limiter.get_window_stats(item, bucket, key)
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        except StorageError as error:
            self.warn_unreachable(error)
            retry_after = item.get_expiry()
        headers = {"retry-after": str(retry_after)}
        if bucket == ADMIN_PREFIX and "text/html" in request.headers.get("accept", ""):
            page = templates.get_template("admin_busy.html").render(retry_after=retry_after)
            await HTMLResponse(page, 429, headers)(scope, receive, send)
            return
        body = {"detail": f"too many requests: the limit is {item}; try again in {retry_after} s"}
        await send_json(send, 429, body, list(headers.items()))

    def warn_unreachable(self, error: StorageError) -> None:
        now = time.monotonic()
        if now - self.store_warned >= STORE_WARNING_EVERY:
            self.store_warned = now
            log.warning("rate limits not counted: the store cannot be reached (%s)", error.storage_error)
