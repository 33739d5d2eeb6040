"""Repeated questions answered before routing: the reply cache, read as early as it safely can be.

A repeated question's reply is already in the cache, and finding it costs a few microseconds, while
FastAPI's routing, dependencies and validation cost several times that. So a ``POST /api/chat``
whose body validates as a ``ChatRequest`` and whose question is in the cache is answered here, inside
the security headers, the rate limit and the body limit, and records what the route would record.
Anything else, a new question or a body with any fault, goes on to the route unchanged, which gives
the same answer or the same error it always gives.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.schemas import ChatRequest
from bot.web import api, metrics

CHAT_PATH = "/api/chat"


class AnswerRepeats:
    """Sends a cached ``/api/chat`` reply without routing; passes everything else through."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != CHAT_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        body = b""
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        repeat = self.cached(body)
        if repeat is None:
            pending = iter(received)

            async def replay() -> Message:
                return next(pending, None) or await receive()

            await self.app(scope, replay, send)
            return
        answered, question = repeat
        await api.record(self.state.storage, answered.reply, question)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answered.body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answered.body})

    def cached(self, body: bytes) -> tuple[api.Answered, str] | None:
        """The cached reply to this body's question, with the question; None if the route must decide."""
        assistant = self.state.assistant
        if assistant is None or not body:
            return None
        try:
            request = ChatRequest.model_validate_json(body)
        except ValidationError:
            return None
        key = api.chat_key(request.message, request.history)
        answered: api.Answered | None = self.state.replies.get(assistant.retriever.version, key)
        if answered is None:
            return None
        metrics.cache_hit("replies")
        return answered, request.message
