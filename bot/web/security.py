"""What every request passes through before a route sees it: request ids, browser security headers,
a body limit, JSON-only API bodies, and a plain 500 for the unexpected.

These are pure ASGI middleware rather than ``BaseHTTPMiddleware``: a body limit has to act on the
stream as it arrives, before the whole body is in memory.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from bot.schemas import ErrorBody
from bot.settings import Settings
from bot.web.asgi import header, send_json
from bot.web.metrics import RequestMetrics
from bot.web.ratelimit import RateLimit
from bot.web.repeats import AnswerRepeats

log = logging.getLogger("bot.web")

MAX_BODY_BYTES = 16 * 1024
JSON_METHODS = frozenset({"POST", "PUT", "PATCH"})
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), "
    "magnetometer=(), microphone=(), payment=(), usb=()"
)
EMBED_PATH = "/embed"
DOCS_PATH = "/docs"  # Swagger UI's stylesheet draws its icons as data: images, so that page allows them


_ERROR: dict[str, Any] = {"model": ErrorBody}
# The answers the middleware and the loading state can give on any route, for the OpenAPI schema.
API_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {**_ERROR, "description": "The body cannot be read (not UTF-8), or Content-Length is not a number."},
    413: {**_ERROR, "description": "The body is over 16 KiB."},
    415: {**_ERROR, "description": "The body is not JSON."},
    422: {**_ERROR, "description": "The request is not valid; `detail` says why."},
    429: {**_ERROR, "description": "Too many requests from this client; see `Retry-After`."},
    503: {**_ERROR, "description": "The index is still loading."},
}
ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    **API_RESPONSES,
    401: {**_ERROR, "description": "No admin token, the wrong one, or none set (the admin area is closed)."},
    403: {**_ERROR, "description": "A request that changes something, sent from another site's page."},
}


def content_security_policy(frame_ancestors: str, img_src: str | None = None) -> str:
    # 'self' only: no inline script or style, no third-party hosts, nothing may frame the page.
    policy = (
        f"default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors {frame_ancestors}"
    )
    return f"{policy}; img-src {img_src}" if img_src else policy


def is_embed(path: str) -> bool:
    return path == EMBED_PATH or path.startswith(EMBED_PATH + "/")


class SecurityHeaders:
    """Adds the browser security headers and a request id to every response, and turns an unexpected
    exception into a 500 JSON that names only the request id (the details go to the log)."""

    def __init__(self, app: ASGIApp, embed_origins: Iterable[str] = ()) -> None:
        self.app = app
        origins = " ".join(embed_origins) or "'none'"
        self.page_headers = self._encode(content_security_policy("'none'"), frame_deny=True)
        self.embed_headers = self._encode(content_security_policy(origins), frame_deny=False)
        self.docs_headers = self._encode(content_security_policy("'none'", "'self' data:"), frame_deny=True)

    @staticmethod
    def _encode(csp: str, *, frame_deny: bool) -> list[tuple[bytes, bytes]]:
        headers = [
            ("content-security-policy", csp),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("permissions-policy", PERMISSIONS_POLICY),
            ("cross-origin-opener-policy", "same-origin"),
        ]
        if frame_deny:
            # For old browsers that ignore frame-ancestors; it cannot name origins, so not on /embed.
            headers.append(("x-frame-options", "DENY"))
        return [(name.encode(), value.encode()) for name, value in headers]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope["state"] = {**scope.get("state", {}), "request_id": request_id}
        path: str = scope["path"]
        extra = self.embed_headers if is_embed(path) else self.docs_headers if path == DOCS_PATH else self.page_headers
        # Answers about a person's health, and every page that may echo a question (/staff?q=, a posted
        # form), must not be kept by a shared cache or a shared computer's browser: all but static files.
        private = not path.startswith("/static/")
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {name.lower() for name, _ in message.get("headers", [])}
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                headers += [(k, v) for k, v in extra if k not in names]
                headers.append((b"x-request-id", request_id.encode()))
                if private and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # The method and path only: the query string may hold a visitor's question.
            log.exception("unexpected error in %s %s (request %s)", scope["method"], path, request_id)
            if started:
                return
            body = {"detail": f"internal error; the request id is {request_id}", "request_id": request_id}
            await send_json(send_with_headers, 500, body)


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; FastAPI passes HTTPExceptions through to the JSON handler."""

    def __init__(self) -> None:
        super().__init__(413, f"the request body is larger than {MAX_BODY_BYTES} bytes")


class BodyLimit:
    """413 for a body over the limit, decided from Content-Length before anything is read, and by
    counting the bytes as they stream in otherwise; 415 for a body on an API route that is not JSON."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, json_prefix: str = "/api/") -> None:
        self.app, self.max_bytes, self.json_prefix = app, max_bytes, json_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await send_json(send, 400, {"detail": "the Content-Length header is not a number"})
                return
            if int(declared) > self.max_bytes:
                await send_json(send, 413, {"detail": BodyTooLarge().detail})
                return
        has_body = (declared is not None and int(declared) > 0) or header(scope, b"transfer-encoding") is not None
        if has_body and scope["method"] in JSON_METHODS and scope["path"].startswith(self.json_prefix):
            kind = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
            if kind != "application/json" and not (kind.startswith("application/") and kind.endswith("+json")):
                detail = f"send the body as application/json, not {kind or 'an unnamed content type'}"
                await send_json(send, 415, {"detail": detail})
                return

        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge as error:
            # Reached only when the body was read outside a route (routes answer through the handler).
            if started:
                raise
            await send_json(send, 413, {"detail": error.detail})


def install(app: FastAPI, settings: Settings) -> None:
    """Wrap ``app`` in the middleware, outermost first: the real client address (only from trusted
    proxies), headers and request ids, CORS (only when origins are set), rate limits, then the body."""
    # add_middleware puts each new one outside the ones before it, so they are added innermost first.
    app.add_middleware(AnswerRepeats, state=app.state)
    app.add_middleware(BodyLimit)
    app.add_middleware(RateLimit, settings=settings, store=app.state.rate_limits)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
            max_age=600,
        )
    app.add_middleware(RequestMetrics, state=app.state)
    app.add_middleware(SecurityHeaders, embed_origins=tuple(settings.embed_origins))
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
