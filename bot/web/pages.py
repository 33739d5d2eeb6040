"""The HTML pages: visitor chat (``/``), its embeddable copy (``/embed`` and ``/widget.js``) and staff
lookup (``/staff``). Every page works without JavaScript: forms post here and the server renders the
answer through the same code as the JSON API; the scripts in ``web/static`` only make it faster.

The pages are ``async def`` like the API's routes: what blocks (a new question, related topics that
must be searched, a vote) goes to a worker thread, so that a repeated question never waits for one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from bot.assistant import DISCLAIMER, Assistant
from bot.cache import normalise
from bot.safety import CRISIS_NOTICE
from bot.settings import PROJECT_ROOT, Settings
from bot.topics import Topic, related_topics, topics_below
from bot.web import api
from bot.web.schemas import MESSAGE_SCHEMA, ChatResponse, FeedbackRequest, clean_message

WEB = PROJECT_ROOT / "web"
STATIC_DIR = WEB / "static"
STAFF_RESULTS = 10

router = APIRouter()
templates = Jinja2Templates(directory=WEB / "templates")  # autoescape is on for .html


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


def _answerable(request: Request, typed: str, *, invalid: str, loading: str) -> tuple[Assistant, str]:
    """The assistant and the cleaned question; ``Unanswerable`` (422 or 503) when there is none.
    ``invalid`` may name ``{error}``, what is wrong with the question."""
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


async def _chat_page(request: Request, *, embed: bool, message: str | None = None) -> HTMLResponse:
    """The chat page, with the reply to ``message`` when the form was posted without JavaScript."""
    context = _base(request, embed=embed, post_url="/embed" if embed else "/", exchange=None, error=None)
    status = 200
    if message is not None:
        try:
            assistant, text = _answerable(
                request,
                message,
                invalid="Please type a question ({error}).",
                loading="The assistant is still starting. Please try again in a moment.",
            )
        except Unanswerable as refusal:
            context["error"], status = refusal.message, refusal.status
        else:
            # The API's own function, so that a posted form and /api/chat record the same things.
            state = request.app.state
            reply = (await api.answer(assistant, state.storage, state.replies, text)).reply
            # A fallback offers nearby topics too, so that a phone number is not all the visitor gets.
            topics = [] if reply.crisis else topics_below(reply.ranking, assistant.retriever.index.passages)
            context["exchange"] = Exchange(text, ChatResponse.of(reply), topics)
    return templates.TemplateResponse(request, "chat.html", context, status_code=status)


@router.get("/", include_in_schema=False, response_class=HTMLResponse)
async def visitor(request: Request) -> HTMLResponse:
    return await _chat_page(request, embed=False)


@router.post("/", include_in_schema=False, response_class=HTMLResponse)
async def visitor_posted(request: Request, message: Annotated[str, Form()] = "") -> HTMLResponse:
    return await _chat_page(request, embed=False, message=message)


@router.get("/embed", include_in_schema=False, response_class=HTMLResponse)
async def embed(request: Request) -> HTMLResponse:
    # Who may frame this page is the CSP frame-ancestors from FAQBOT_EMBED_ORIGINS (bot.web.security).
    return await _chat_page(request, embed=True)


@router.post("/embed", include_in_schema=False, response_class=HTMLResponse)
async def embed_posted(request: Request, message: Annotated[str, Form()] = "") -> HTMLResponse:
    return await _chat_page(request, embed=True, message=message)


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
    request: Request, answer_id: Annotated[str, Form()] = "", helpful: Annotated[str, Form()] = ""
) -> HTMLResponse:
    """The 👍/👎 buttons without JavaScript; with it they go to ``POST /api/feedback``."""
    assistant = _assistant(request)
    status, thanks = 200, True
    if assistant is None or helpful not in ("true", "false") or not 0 < len(answer_id) <= 200:
        status, thanks = 422, False
    else:
        try:
            body = FeedbackRequest(answer_id=answer_id, helpful=helpful == "true")
            api.feedback(body, assistant, request.app.state.storage)
        except HTTPException as error:
            status, thanks = error.status_code, False
    return templates.TemplateResponse(request, "feedback.html", _base(request, thanks=thanks), status_code=status)


@router.get("/staff", include_in_schema=False, response_class=HTMLResponse)
async def staff(request: Request, q: Annotated[str, Query(max_length=4000)] = "") -> HTMLResponse:
    """Staff lookup; ``?q=`` renders the ranked passages on the server, so a link can be shared."""
    context = _base(request, q=q, results=[], index_version=None, error=None)
    status = 200
    assistant = _assistant(request)
    if assistant is not None:
        context["index_version"] = assistant.retriever.version
    if q.strip():
        try:
            assistant, text = _answerable(
                request,
                q,
                invalid="The search {error}.",
                loading="The index is still loading. Please try again in a moment.",
            )
        except Unanswerable as refusal:
            context["error"], status = refusal.message, refusal.status
        else:
            found = (await api.find(assistant, request.app.state.results, text, STAFF_RESULTS)).response
            context["results"], context["index_version"] = found.results, found.index_version
    return templates.TemplateResponse(request, "staff.html", context, status_code=status)


@router.get("/api/related", tags=["visitors"])
async def related(
    request: Request,
    q: Annotated[str, Query(max_length=4000, description="The visitor's question.", json_schema_extra=MESSAGE_SCHEMA)],
) -> dict[str, list[dict[str, str]]]:
    """Up to three sections near the question that its answer did not show, each with a question to ask."""
    assistant = api.current_assistant(request)
    try:
        text = clean_message(q)
    except ValueError as error:
        raise HTTPException(422, f"q: {error}") from error
    # The page asks right after /api/chat answered the same question: its cached reply has the ranking.
    retriever = assistant.retriever
    answered: api.Answered | None = request.app.state.replies.get(retriever.version, normalise(text))
    if answered is not None and answered.reply.ranking:
        topics = topics_below(answered.reply.ranking, retriever.index.passages)
    else:
        topics = await run_in_threadpool(related_topics, assistant, text)
    return {"topics": [{"section": t.section, "question": t.question} for t in topics]}
