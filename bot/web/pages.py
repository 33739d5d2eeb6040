"""The HTML pages: visitor chat (``/``), its embeddable copy (``/embed`` and ``/widget.js``) and staff
lookup (``/staff``). Every page works without JavaScript: forms post here and the server renders the
answer through the same code as the JSON API; the scripts in ``web/static`` only make it faster.

The pages are ``async def`` like the API's routes: what blocks (a new question, related topics that
must be searched, a vote) goes to a worker thread, so that a repeated question never waits for one."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from bot.assistant import DISCLAIMER, Assistant, ChatReply
from bot.safety import CRISIS_NOTICE
from bot.schemas import MAX_HISTORY, MESSAGE_SCHEMA, ChatResponse, FeedbackRequest, clean_message
from bot.settings import Settings
from bot.topics import Topic, topics_below
from bot.web import api
from bot.web.deps import STATIC_DIR, current_assistant, templates

STAFF_RESULTS = 10

router = APIRouter()


def marked(text: str, highlights: Iterable[Sequence[int]] | None) -> list[tuple[str, bool]]:
    """``text`` cut at the ``[start, end]`` offsets of its answering sentences: (piece, marked) pairs
    whose pieces join back into ``text`` exactly. A span out of order or out of range is left unmarked.
    chat.js and staff.js (``markText``) cut the same way."""
    pieces: list[tuple[str, bool]] = []
    at = 0
    for start, end in highlights or ():
        if not at <= start < end <= len(text):
            continue
        if start > at:
            pieces.append((text[at:start], False))
        pieces.append((text[start:end], True))
        at = end
    if at < len(text) or not pieces:
        pieces.append((text[at:], False))
    return pieces


templates.env.filters["marked"] = marked
# Each reply's vote form carries a random id of its own (never anything about the visitor): one vote per
# answer and reply, the second replacing the first. chat.js gives the replies it adds one the same way.
templates.env.globals["voter_id"] = lambda: secrets.token_hex(16)


@dataclass(frozen=True)
class Exchange:
    """One question and its reply, as the chat page shows it."""

    question: str
    reply: ChatResponse
    topics: list[Topic] = field(default_factory=list)


def _assistant(request: Request) -> Assistant | None:
    assistant: Assistant | None = request.app.state.assistant
    return assistant


class Unanswerable(Exception):
    """Why a page cannot answer what was typed, in the page's words, with the HTTP status to send."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message, self.status = message, status


# What each page says when it cannot answer: (what is wrong with the question, with {error}; still loading).
CHAT_REFUSALS = ("Please type a question ({error}).", "The assistant is still starting. Please try again in a moment.")
STAFF_REFUSALS = ("The search {error}.", "The index is still loading. Please try again in a moment.")


def _answerable(request: Request, typed: str, refusals: tuple[str, str]) -> tuple[Assistant, str]:
    """The assistant and the cleaned question; ``Unanswerable`` (422 or 503) when there is none."""
    invalid, loading = refusals
    try:
        text = clean_message(typed)
    except ValueError as error:
        raise Unanswerable(invalid.format(error=error), 422) from error
    assistant = _assistant(request)
    if assistant is None:
        raise Unanswerable(loading, 503)
    return assistant, text


def _base(request: Request, **extra: Any) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    return {"settings": settings, "disclaimer": DISCLAIMER, "crisis_notice": CRISIS_NOTICE, **extra}


def _earlier(history: Sequence[str]) -> list[str]:
    """The earlier questions a posted form carried back, the last MAX_HISTORY that are valid."""
    cleaned = []
    for question in history:
        try:
            cleaned.append(clean_message(question))
        except ValueError:
            continue  # only a hand-edited form gets here; the question is answered without it
    return cleaned[-MAX_HISTORY:]


def _topics(assistant: Assistant, reply: ChatReply) -> list[Topic]:
    """Sections near the question that the reply did not show; a fallback gets the nearest ones, so that
    a phone number is not all the visitor is left with. A crisis reply offers none."""
    if reply.crisis:
        return []
    return topics_below(reply.ranking, assistant.retriever.index.passages, shown=len(reply.answers))


async def _chat_page(
    request: Request, *, embed: bool, message: str | None = None, history: Sequence[str] = ()
) -> HTMLResponse:
    """The chat page, with the reply to ``message`` when the form was posted without JavaScript.
    The form then carries the visitor's earlier questions in hidden fields, as chat.js keeps them."""
    earlier = _earlier(history)
    context = _base(request, embed=embed, post_url="/embed" if embed else "/", exchange=None, error=None)
    context["history"] = earlier
    status = 200
    if message is not None:
        try:
            assistant, text = _answerable(request, message, CHAT_REFUSALS)
        except Unanswerable as refusal:
            context["error"], status = refusal.message, refusal.status
        else:
            # The API's own function, so that a posted form and /api/chat record the same things.
            state = request.app.state
            asker = api.Asker.of(request)
            reply = (await api.answer(assistant, state.storage, state.replies, text, earlier, asker)).reply
            context["exchange"] = Exchange(text, ChatResponse.of(reply), _topics(assistant, reply))
            context["history"] = [*earlier, text][-MAX_HISTORY:]
    return templates.TemplateResponse(request, "chat.html", context, status_code=status)


@router.get("/", include_in_schema=False, response_class=HTMLResponse)
@router.head("/", include_in_schema=False, response_class=HTMLResponse)
async def visitor(request: Request) -> HTMLResponse:
    return await _chat_page(request, embed=False)


Earlier = Annotated[list[str], Form(default_factory=list)]


@router.post("/", include_in_schema=False, response_class=HTMLResponse)
async def visitor_posted(request: Request, history: Earlier, message: Annotated[str, Form()] = "") -> HTMLResponse:
    return await _chat_page(request, embed=False, message=message, history=history)


@router.get("/embed", include_in_schema=False, response_class=HTMLResponse)
async def embed(request: Request) -> HTMLResponse:
    # Who may frame this page is the CSP frame-ancestors from FAQBOT_EMBED_ORIGINS (bot.web.security).
    return await _chat_page(request, embed=True)


@router.post("/embed", include_in_schema=False, response_class=HTMLResponse)
async def embed_posted(request: Request, history: Earlier, message: Annotated[str, Form()] = "") -> HTMLResponse:
    return await _chat_page(request, embed=True, message=message, history=history)


@router.get("/widget.js", include_in_schema=False)
def widget() -> FileResponse:
    """The one-line embed: ``<script src="https://bot.example/widget.js" defer></script>``."""
    return FileResponse(
        STATIC_DIR / "widget.js",
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.post("/feedback", include_in_schema=False, response_class=HTMLResponse)
def feedback_posted(
    request: Request,
    answer_id: Annotated[str, Form()] = "",
    helpful: Annotated[str, Form()] = "",
    voter: Annotated[str, Form()] = "",
    question: Annotated[str, Form(max_length=4000)] = "",
) -> HTMLResponse:
    """The 👍/👎 buttons without JavaScript; with it they go to ``POST /api/feedback``."""
    assistant = _assistant(request)
    status, thanks = 200, True
    if assistant is None or helpful not in ("true", "false") or not 0 < len(answer_id) <= 200:
        status, thanks = 422, False
    else:
        try:
            body = FeedbackRequest(
                answer_id=answer_id, helpful=helpful == "true", voter=voter or None, question=question or None
            )
            api.feedback(body, assistant, request.app.state.storage, request.app.state.settings)
        except HTTPException as error:
            status, thanks = error.status_code, False
        except ValidationError:  # a voter id the page did not make
            status, thanks = 422, False
    return templates.TemplateResponse(request, "feedback.html", _base(request, thanks=thanks), status_code=status)


@router.get("/staff", include_in_schema=False, response_class=HTMLResponse)
async def staff(request: Request, q: Annotated[str, Query(max_length=4000)] = "") -> HTMLResponse:
    """Staff lookup; ``?q=`` renders the ranked passages on the server, so a link can be shared."""
    context = _base(request, q=q, results=[], matched=None, index_version=None, error=None)
    status = 200
    assistant = _assistant(request)
    if assistant is not None:
        context["index_version"] = assistant.retriever.version
    if q.strip():
        try:
            assistant, text = _answerable(request, q, STAFF_REFUSALS)
        except Unanswerable as refusal:
            context["error"], status = refusal.message, refusal.status
        else:
            found = (await api.find(assistant, request.app.state.results, text, STAFF_RESULTS)).response
            context["results"], context["index_version"] = found.results, found.index_version
            context["matched"] = found.matched
    return templates.TemplateResponse(request, "staff.html", context, status_code=status)


@router.get("/api/related", tags=["visitors"])
async def related(
    request: Request,
    q: Annotated[str, Query(max_length=4000, description="The visitor's question.", json_schema_extra=MESSAGE_SCHEMA)],
    history: Annotated[
        list[str],
        Query(
            description="The earlier questions sent with it to /api/chat, oldest first (at most 3): "
            "the topics then come from that reply. Never stored.",
            # Each one is checked as a chat message is: say so, so that clients and fuzzers know.
            json_schema_extra={"maxItems": MAX_HISTORY, "items": {"type": "string", **MESSAGE_SCHEMA}},
        ),
    ] = [],  # noqa: B006 - FastAPI copies a default, it is never shared
) -> dict[str, list[dict[str, str]]]:
    """Up to three sections near the question that its answer did not show, each with a question to ask."""
    assistant = current_assistant(request)
    try:
        text = clean_message(q)
    except ValueError as error:
        raise HTTPException(422, f"q: {error}") from error
    try:
        earlier = [clean_message(question) for question in history]
    except ValueError as error:
        raise HTTPException(422, f"history: {error}") from error
    if len(earlier) > MAX_HISTORY:
        raise HTTPException(422, f"history: at most {MAX_HISTORY} questions")
    # The page asks right after /api/chat answered the same question: its cached reply has the ranking.
    answered: api.Answered | None = request.app.state.replies.get(
        assistant.retriever.version, api.chat_key(text, earlier)
    )
    # Otherwise the reply is worked out again (and not recorded), so the topics are the page's.
    reply = answered.reply if answered is not None else await run_in_threadpool(assistant.chat, text, earlier)
    topics = _topics(assistant, reply)
    return {"topics": [{"section": t.section, "question": t.question} for t in topics]}
