"""``create_app(settings)``: the service as a plain object that a test can build in one line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from bot import __version__
from bot.assistant import load_assistant
from bot.batching import MicroBatcher
from bot.cache import ReplyCache
from bot.embedding import Embedder
from bot.onnx_embedding import load_serving_embedder
from bot.redaction import quiet_access_log
from bot.release_follower import ReleaseFollower, fetch_current
from bot.release_store import ReleaseStore
from bot.reload import freeze_loaded
from bot.settings import Settings
from bot.storage import Storage
from bot.web import admin, api, dashboard, deps, docs, fleet, metrics, pages, security
from bot.web.ratelimit import Allowance, LimitStore

log = logging.getLogger("bot")


async def follow_releases(app: FastAPI) -> asyncio.Task[None] | None:
    """With releases in the database: record what this replica serves, then follow the current release."""
    store: ReleaseStore | None = app.state.releases
    if store is None:
        return None
    settings: Settings = app.state.settings
    await asyncio.to_thread(store.serving, settings.replica_name, app.state.assistant.retriever.version)
    follower = ReleaseFollower(app.state.release, store, settings.replica_name, settings.watch_interval)
    return asyncio.create_task(follower.run())


def create_app(settings: Settings | None = None, embedder: Embedder | None = None) -> FastAPI:
    """Build the app. The model and the index load in the lifespan; ``embedder`` may be passed in."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        model = embedder if embedder is not None else await asyncio.to_thread(load_serving_embedder, settings)
        if settings.batching:  # concurrent questions share one encode call (bot/batching.py)
            model = MicroBatcher(model, settings.batch_max_size, settings.batch_max_wait_ms / 1000)
            await model.start()
        app.state.embedder = model
        if app.state.releases is not None:  # FAQBOT_RELEASES=database: the index directory is a cache
            await asyncio.to_thread(fetch_current, settings, app.state.releases)
        app.state.assistant = await asyncio.to_thread(load_assistant, settings, model)
        freeze_loaded()
        log.info("ready: index %s", app.state.assistant.retriever.version)
        tasks = admin.start_background(app)
        following = await follow_releases(app)
        yield
        for task in tasks:
            task.cancel()
        if following is not None:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following  # closes its notification connection
        if isinstance(model, MicroBatcher):
            await model.close()
        app.state.storage.close()
        metrics.process_exited()
        await app.state.rate_limits.close()

    app = FastAPI(
        title="Vetted FAQ assistant",
        version=__version__,
        summary="Answers questions with vetted passages, verbatim, and never generates medical text.",
        lifespan=lifespan,
        # FastAPI's pages load Swagger UI and ReDoc from a CDN, which the CSP and the no-third-party rule
        # forbid; /docs serves a local copy instead (bot/web/docs.py), over /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    fleet.install()
    app.state.assistant = None
    app.state.replies = ReplyCache(settings.cache_size)  # chat replies, per index version
    app.state.results = ReplyCache(settings.cache_size)  # staff search results, per index version
    app.state.storage = Storage(settings.database, settings.log_questions, settings.question_retention_days)
    app.state.releases = ReleaseStore(app.state.storage.engine) if settings.releases == "database" else None
    app.state.rate_limits = LimitStore(settings.rate_limit_storage)  # counted per process, or in Redis
    # How many unanswered questions of one client are kept: a burst cannot fill the dashboard.
    app.state.log_allowance = Allowance(app.state.rate_limits, settings.question_log_limit, "question-log")
    app.include_router(api.router, responses=security.API_RESPONSES)
    app.include_router(pages.router, responses=security.API_RESPONSES)
    app.include_router(admin.router, responses=security.ADMIN_RESPONSES)
    app.include_router(dashboard.router)
    app.include_router(metrics.router)
    app.include_router(docs.router)
    quiet_access_log()  # query strings (?q=...) may hold a visitor's question
    app.mount("/static", StaticFiles(directory=deps.STATIC_DIR), name="static")
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    security.install(app, settings)
    return app


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    detail = error.detail
    # Starlette's own 404 and 405 say only "Not Found"; say what was not found.
    if error.status_code == 404 and detail == "Not Found":
        detail = f"no such page or API route: {request.url.path}"
    elif error.status_code == 400 and detail == "There was an error parsing the body":
        detail = "the body could not be read as JSON: send UTF-8 encoded JSON"
    elif error.status_code == 405 and detail == "Method Not Allowed":
        allowed = (error.headers or {}).get("Allow", "")
        detail = f"{request.method} is not allowed on {request.url.path}" + (f"; use {allowed}" if allowed else "")
    return JSONResponse({"detail": detail}, status_code=error.status_code, headers=error.headers)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
        problems.append(f"{where}: {item.get('msg', 'invalid')}" if where else str(item.get("msg", "invalid")))
    return JSONResponse({"detail": "; ".join(problems) or "invalid request"}, status_code=422)
