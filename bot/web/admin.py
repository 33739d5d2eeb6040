"""The content team's area: the dashboard, reload, the report as JSON and CSV, and the served index.

Everything here needs the admin token, as ``Authorization: Bearer <token>`` or as the session cookie
the login form sets; the area is closed (401, as DESIGN asks of every admin route without a valid
token) while ``FAQBOT_ADMIN_TOKEN`` is unset. Tokens are
compared with ``hmac.compare_digest``, and the cookie holds a random session id (``bot.web.sessions``),
never the token.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from dataclasses import asdict
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from bot.assistant import Assistant
from bot.content.report import LISTS, Report, make_report
from bot.index import IndexRefused, passage_to_dict
from bot.reload import IndexWatcher, Release, ReloadResult
from bot.settings import Settings
from bot.storage import Storage
from bot.web import metrics, sessions
from bot.web.deps import AssistantDep, templates

SESSION_COOKIE = "faqbot_admin"
OUTCOME_COOKIE = "faqbot_admin_outcome"  # a reload's outcome, shown once after the redirect
CLOSED = "the admin area is closed: set FAQBOT_ADMIN_TOKEN to open it"
UNAUTHORIZED = "send the admin token as 'Authorization: Bearer <token>' or log in at /admin"

# Every route: a form on another site must not be able to post here with an editor's cookie.
router = APIRouter(prefix="/admin", tags=["content team"], dependencies=[Depends(sessions.refuse_other_sites)])


def _token(request: Request) -> str | None:
    settings: Settings = request.app.state.settings
    return settings.admin_token or None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def is_admin(request: Request) -> bool:
    """Whether the request carries the admin token or a valid session; raises 401 while closed."""
    token = _token(request)
    if token is None:
        raise HTTPException(401, CLOSED)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and given:
        return _same(given.strip(), token)
    cookie = request.cookies.get(SESSION_COOKIE)
    return cookie is not None and sessions.valid_session(request.app.state.storage, token, cookie)


def signed_in(request: Request) -> bool:
    """Whether the request carries the admin token or a valid session (never, while the area is closed)."""
    try:
        return is_admin(request)
    except HTTPException:
        return False


def require_admin(request: Request) -> None:
    if not is_admin(request):
        raise HTTPException(401, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})


Admin = Depends(require_admin)


def current_report(request: Request, assistant: Assistant) -> Report:
    index = assistant.retriever.index
    storage: Storage = request.app.state.storage
    return make_report(request.app.state.settings, storage, storage.questions, index.manifest, index.passages)


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status)


@router.post("/login", include_in_schema=False)
def login(request: Request, token: Annotated[str, Form(max_length=1000)] = "") -> Response:
    expected = _token(request)
    if expected is None:
        return page(request, "admin_login.html", 401, closed=True)
    if not token or not _same(token, expected):
        return page(request, "admin_login.html", 401, error="That token is not right.")
    response = RedirectResponse("/admin", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sessions.open_session(request.app.state.storage, expected),
        max_age=sessions.SESSION_SECONDS,
        path="/admin",
        httponly=True,
        samesite="strict",
        secure=sessions.secure_cookie(request),
    )
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request) -> Response:
    """Ends the session in the database, so that a copy of the cookie is no use on any replica."""
    token, cookie = _token(request), request.cookies.get(SESSION_COOKIE)
    if token is not None and cookie is not None:
        sessions.end_session(request.app.state.storage, token, cookie)
    response = RedirectResponse("/admin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/admin", httponly=True, samesite="strict")
    return response


@router.post("/reload", dependencies=[Admin], responses={409: {"description": "The index was refused."}})
def reload(request: Request, assistant: AssistantDep) -> Response:
    """Load the index on disk, check it fully (files, counts, model, a canary search) and swap it in.

    200 with the new version, or 409 with the reason while the old index keeps serving."""
    release: Release = request.app.state.release
    from_form = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    try:
        result = release.reload()
    except IndexRefused as error:
        served = assistant.retriever.version
        if from_form:
            return back_to_dashboard(request, {"refused": str(error)})
        return JSONResponse({"detail": f"index refused: {error}", "index_version": served}, status_code=409)
    if from_form:
        return back_to_dashboard(request, {"reloaded": asdict(result)})
    return JSONResponse(
        {
            "index_version": result.index_version,
            "previous_version": result.previous_version,
            "changed": result.changed,
            "passage_count": result.passage_count,
            "built_at": result.built_at,
        }
    )


def back_to_dashboard(request: Request, outcome: dict[str, Any], anchor: str = "") -> Response:
    """Post/redirect/get: the dashboard shows the outcome once, and the address bar is /admin again, so
    reloading the page does not post the form a second time."""
    response = RedirectResponse("/admin" + anchor, status_code=303)
    response.set_cookie(
        OUTCOME_COOKIE,
        quote(json.dumps(outcome)),
        max_age=60,
        path="/admin",
        httponly=True,
        samesite="strict",
        secure=sessions.secure_cookie(request),
    )
    return response


def outcome(request: Request) -> dict[str, Any]:
    """The last form's outcome for the dashboard, from the cookie ``back_to_dashboard`` set."""
    try:
        saved = json.loads(unquote(request.cookies.get(OUTCOME_COOKIE, "")))
        if "reloaded" in saved:
            return {"reloaded": ReloadResult(**saved["reloaded"])}
        name = next(name for name in ("refused", "handled", "problem") if name in saved)
        return {name: str(saved[name])}
    except (ValueError, TypeError, KeyError, StopIteration):  # no outcome, or a cookie that is not ours
        return {}


@router.get("/report", dependencies=[Admin])
def report(request: Request, assistant: AssistantDep) -> dict[str, Any]:
    """The dashboard's lists as JSON: index, files, unanswered questions (redacted), unhelpful answers,
    crisis counts per day."""
    return current_report(request, assistant).as_dict()


@router.get("/index", dependencies=[Admin])
def served_index(assistant: AssistantDep) -> dict[str, Any]:
    """The index this process serves, passage by passage (what ``faqbot diff`` compares with)."""
    index = assistant.retriever.index
    return {
        "index_version": index.version,
        "built_at": index.manifest.built_at,
        "passage_count": len(index.passages),
        "model": index.manifest.model,
        "passages": [passage_to_dict(p) for p in index.passages],
    }


@router.get("/export/{name}.csv", dependencies=[Admin], response_class=Response)
def export(name: str, request: Request, assistant: AssistantDep) -> Response:
    """One of the dashboard's lists as CSV: files, unanswered, unhelpful or crisis."""
    if name not in LISTS:
        raise HTTPException(404, f"no list named {name!r}; the lists are {', '.join(LISTS)}")
    body = current_report(request, assistant).csv(name)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="faqbot-{name}.csv"'},
    )


def start_background(app: FastAPI) -> list[asyncio.Task[None]]:
    """Once the index is loaded: the release helper, the daily purge and, if set, the index watcher."""
    settings: Settings = app.state.settings
    app.state.release = Release(app.state.assistant, on_refused=metrics.release_refused)
    storage: Storage = app.state.storage
    tasks = [asyncio.create_task(storage.purge_daily()), asyncio.create_task(storage.flush_counts_every())]
    if settings.watch_index:
        tasks.append(asyncio.create_task(IndexWatcher(app.state.release, settings.watch_interval).run()))
    return tasks
