"""The content team's pages: the dashboard, the waiting build (its changes, and questions tried on it),
and marking unanswered questions handled. Sign-in, reload and the exports live in ``bot.web.admin``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from bot.assistant import Assistant
from bot.content.trends import trend_charts
from bot.content.unanswered import TopicList, per_week
from bot.content.waiting import WaitingBuild, WaitingReleases, waiting_build
from bot.index import IndexRefused
from bot.questionlog import MAX_KEY
from bot.schemas import ChatResponse, clean_message
from bot.storage import MAX_EDITOR, Storage
from bot.web import admin, sessions
from bot.web.deps import current_assistant, templates
from bot.web.pages import marked
from bot.wording import day_words, iso, short_version, when_words, zone

EDITOR_COOKIE = "faqbot_editor"  # the name an editor last marked a group handled with, to fill it in
MAX_KEYS = 200

# As every admin route: a form on another site must not post here with an editor's cookie.
router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(sessions.refuse_other_sites)])
env = templates.env
env.filters["marked"] = marked
env.filters["iso"] = iso
env.filters["version"] = short_version


def _context(request: Request, **extra: Any) -> dict[str, Any]:
    tz = zone(request.app.state.settings.time_zone)
    now = dt.datetime.now(dt.UTC)
    return {
        "settings": request.app.state.settings,
        "when": lambda stamp: when_words(stamp, tz, now),
        "day": lambda day: day_words(dt.date.fromisoformat(str(day)), now.astimezone(tz).date()),
        **extra,
    }


def _signed_in_assistant(request: Request) -> Assistant | Response:
    """The assistant for a signed-in editor; the sign-in page (401) for anyone else."""
    try:
        if admin.is_admin(request):
            return current_assistant(request)
    except HTTPException as error:
        if error.status_code == 503:
            raise
        return admin.page(request, "admin_login.html", 401, closed=True)
    return admin.page(request, "admin_login.html", 401)


def _waiting(request: Request, assistant: Assistant) -> WaitingBuild | None:
    served = assistant.retriever.index
    waiting = waiting_build(request.app.state.settings.index_dir, served.version, served.passages)
    if waiting is None:
        releases(request).forget()  # released, or built again as what is served: nothing to keep loaded
    return waiting


def releases(request: Request) -> WaitingReleases:
    """The app's loader for waiting builds, made on first use."""
    state = request.app.state
    if getattr(state, "waiting_releases", None) is None:
        state.waiting_releases = WaitingReleases(state.settings, state.embedder)
    loader: WaitingReleases = state.waiting_releases
    return loader


def _topic_list(request: Request) -> TopicList:
    """The app's grouping of unanswered questions, made on first use."""
    state = request.app.state
    if getattr(state, "topic_list", None) is None:
        state.topic_list = TopicList()
    found: TopicList = state.topic_list
    return found


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request) -> Response:
    """The dashboard for a signed-in editor; the sign-in form otherwise."""
    assistant = _signed_in_assistant(request)
    if isinstance(assistant, Response):
        return assistant
    storage: Storage = request.app.state.storage
    report = admin.current_report(request, assistant)
    tz = zone(request.app.state.settings.time_zone)
    page = admin.page(
        request,
        "admin.html",
        **_context(
            request,
            report=report,
            waiting=_waiting(request, assistant),
            topics=_topic_list(request)(assistant, report.unanswered, storage.handled()),
            weeks=per_week(storage.questions.asked_at(), tz),
            charts=trend_charts(storage),
            editor=unquote(request.cookies.get(EDITOR_COOKIE, "")),
            **admin.outcome(request),
        ),
    )
    if admin.OUTCOME_COOKIE in request.cookies:
        page.delete_cookie(admin.OUTCOME_COOKIE, path="/admin", httponly=True, samesite="strict")
    return page


@router.get("/waiting", response_class=HTMLResponse)
async def waiting_page(request: Request, q: Annotated[str, Query(max_length=4000)] = "") -> Response:
    """What the waiting build changes, and, with ``q``, how it and the served build answer that question."""
    assistant = _signed_in_assistant(request)
    if isinstance(assistant, Response):
        return assistant
    waiting = await run_in_threadpool(_waiting, request, assistant)
    context = _context(request, waiting=waiting, served=assistant.retriever.index, q=q)
    if waiting is None or not q.strip():
        return admin.page(request, "admin_waiting.html", **context)
    try:
        question = clean_message(q)
    except ValueError as error:
        return admin.page(request, "admin_waiting.html", 422, **context, problem=f"The question {error}.")
    try:
        trial = await run_in_threadpool(releases(request).load, waiting.version)
    except IndexRefused as error:
        return admin.page(request, "admin_waiting.html", 409, **context, refused=str(error))
    # Through the assistant's own chat, as a visitor's question; nothing of it is logged or counted.
    new = await run_in_threadpool(assistant.chat, question, (), trial)
    now = await run_in_threadpool(assistant.chat, question)
    return admin.page(
        request, "admin_waiting.html", **context, tried=ChatResponse.of(new), served_reply=ChatResponse.of(now)
    )


@router.post("/handled")
def mark_handled(
    request: Request,
    key: Annotated[list[str], Form(max_length=MAX_KEY)],
    editor: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Mark a group of unanswered questions handled by ``editor``, now; back to the dashboard."""
    admin.require_admin(request)
    name = " ".join(editor.split())
    if not name or len(name) > MAX_EDITOR:
        problem = f"Type your name (1 to {MAX_EDITOR} characters) to mark a question handled."
        return admin.back_to_dashboard(request, {"problem": problem}, "#unanswered-heading")
    if len(key) > MAX_KEYS:
        raise HTTPException(422, f"key: at most {MAX_KEYS} groups at once")
    storage: Storage = request.app.state.storage
    storage.mark_handled(key, name)
    response = admin.back_to_dashboard(request, {"handled": name}, "#unanswered-heading")
    response.set_cookie(
        EDITOR_COOKIE,
        quote(name),
        max_age=365 * 24 * 60 * 60,
        path="/admin",
        httponly=True,
        samesite="strict",
        secure=sessions.secure_cookie(request),
    )
    return response
