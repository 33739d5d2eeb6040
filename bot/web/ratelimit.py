"""Per-client rate limits, counted by the ``limits`` library (the one slowapi is built on).

Chat and feedback (and the page forms that do the same) each allow ``FAQBOT_RATE_LIMIT`` per
client; search, which the staff page runs as you type, allows ``FAQBOT_SEARCH_RATE_LIMIT``; every
``/admin`` route shares a stricter ``FAQBOT_ADMIN_RATE_LIMIT``, which slows token guessing: only
requests without a valid token or session count, and the dashboard's stylesheet never does, so an
editor who is signed in can click as they like. A page over a limit (a browser asking for HTML under
``/admin``) gets a page that says when to try again; everything else gets JSON.
The client is the connecting address; ``ProxyHeadersMiddleware`` replaces it with the one in
``X-Forwarded-For`` only when the connection comes from a proxy in ``FAQBOT_TRUSTED_PROXIES``.

This is a small ASGI middleware over ``limits`` rather than slowapi's decorators, so that the limits
cover routes by path (including the admin routes) without touching each route's signature.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.settings import Settings
from bot.web import admin
from bot.web.asgi import send_json

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
ADMIN_FILES = frozenset({"/admin/admin.css"})  # what a dashboard page loads: never counted


def async_storage_uri(uri: str) -> str:
    # The middleware runs on the event loop, so it uses the library's asyncio storage of the same kind.
    return uri if uri.startswith("async+") else f"async+{uri}"


class RateLimit:
    """429 with ``Retry-After`` once a client has used up its allowance on a limited route."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.visitor = None if settings.rate_limit == "0" else parse(settings.rate_limit)
        self.search = None if settings.search_rate_limit == "0" else parse(settings.search_rate_limit)
        self.admin = None if settings.admin_rate_limit == "0" else parse(settings.admin_rate_limit)
        self.limiter = MovingWindowRateLimiter(storage_from_string(async_storage_uri(settings.rate_limit_storage)))

    def rule(self, scope: Scope) -> tuple[RateLimitItem | None, str]:
        """The limit for this request and the name of the bucket it counts in."""
        path: str = scope["path"]
        if path in ADMIN_FILES:
            return None, ""
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            return self.admin, ADMIN_PREFIX
        bucket = VISITOR_BUCKETS.get(("*", path)) or VISITOR_BUCKETS.get((scope["method"], path))
        if bucket == "search" and path == "/staff" and not scope["query_string"]:
            return None, ""  # opening the staff page searches nothing
        if bucket == "search":
            return self.search, bucket
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
        client = scope.get("client")
        key = str(client[0]) if client else "unknown"
        if await self.limiter.hit(item, bucket, key):
            await self.app(scope, receive, send)
            return
        stats = await self.limiter.get_window_stats(item, bucket, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        headers = {"retry-after": str(retry_after)}
        if bucket == ADMIN_PREFIX and "text/html" in request.headers.get("accept", ""):
            page = admin.TEMPLATES.get_template("admin_busy.html").render(retry_after=retry_after)
            await HTMLResponse(page, 429, headers)(scope, receive, send)
            return
        body = {"detail": f"too many requests: the limit is {item}; try again in {retry_after} s"}
        await send_json(send, 429, body, list(headers.items()))
