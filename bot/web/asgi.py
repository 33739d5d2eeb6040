"""Two small helpers for the pure ASGI middleware: read a request header, answer with JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from starlette.types import Scope, Send


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def send_json(
    send: Send, status: int, body: Mapping[str, object], headers: Iterable[tuple[str, str]] = ()
) -> None:
    """Answer from inside a middleware, in the same shape as the routes' own errors."""
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
