"""The JSON API of DESIGN.md: chat, search, feedback and health."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from limits import parse as parse_rate
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from bot.assistant import Assistant, ChatReply
from bot.cache import ReplyCache, normalise
from bot.schemas import (
    MESSAGE_SCHEMA,
    ChatRequest,
    ChatResponse,
    ErrorBody,
    FeedbackRequest,
    Ready,
    SearchResponse,
    clean_message,
)
from bot.storage import Storage
from bot.web import metrics
from bot.web.deps import AssistantDep, SettingsDep, StorageDep
from bot.web.ratelimit import Allowance, client_key

router = APIRouter()
log = logging.getLogger("bot")
# While the database cannot be reached (a PostgreSQL restart), replies go on; a vote asks to be sent again.
FEEDBACK_UNAVAILABLE = "feedback cannot be stored right now: please try again in a minute"


@dataclass(frozen=True)
class Answered:
    """A chat reply and its JSON body as ``/api/chat`` sends it, so that a repeat is sent as it is."""

    reply: ChatReply
    body: bytes


@dataclass(frozen=True)
class Found:
    """Staff search results and their JSON body as ``/api/search`` sends it."""

    response: SearchResponse
    body: bytes


ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "The request is not valid; `detail` says why."}
}


# The dependencies are ``async def`` on purpose (``bot.web.deps``).
async def get_replies(request: Request) -> ReplyCache[Answered]:
    replies: ReplyCache[Answered] = request.app.state.replies
    return replies


async def get_results(request: Request) -> ReplyCache[Found]:
    results: ReplyCache[Found] = request.app.state.results
    return results


RepliesDep = Annotated[ReplyCache[Answered], Depends(get_replies)]
ResultsDep = Annotated[ReplyCache[Found], Depends(get_results)]


def chat_key(message: str, history: Sequence[str] = ()) -> str:
    """The reply cache's key for a message and the earlier questions sent with it."""
    return "\x1e".join(normalise(text) for text in (*history, message))


async def answer(
    assistant: Assistant,
    storage: Storage,
    replies: ReplyCache[Answered],
    message: str,
    history: Sequence[str] = (),
    asker: Asker | None = None,
) -> Answered:
    """The reply to a visitor's message, from ``replies`` when the same question met the same index.

    A repeat is answered on the event loop without leaving it; only a new question goes to a worker
    thread (whose encode joins the micro-batch). What a reply records is recorded every time.
    """
    snapshot = assistant.snapshot  # the reply and its cache entry share a version
    key = chat_key(message, history)
    answered = replies.get(snapshot.version, key)
    if answered is None:
        reply = await run_in_threadpool(assistant.chat, message, history, snapshot)
        answered = Answered(reply, ChatResponse.of(reply).model_dump_json().encode())
        replies.put(snapshot.version, key, answered)
    else:
        metrics.cache_hit("replies")
    await record(storage, answered.reply, message, asker)
    return answered


@dataclass(frozen=True)
class Asker:
    """Who asked (``client_key``), and how many of their unanswered questions may still be kept."""

    client: str
    allowance: Allowance

    @classmethod
    def of(cls, request: Request) -> Asker:
        return cls(client_key(request.scope), request.app.state.log_allowance)


async def record(storage: Storage, reply: ChatReply, message: str, asker: Asker | None = None) -> None:
    """What a reply leaves behind: a crisis count, or the unanswered question (redacted before it is kept).
    The reply is sent even when the database cannot take it."""
    metrics.reply_outcome(reply.matched, reply.crisis)
    storage.count_reply("crisis" if reply.crisis else "answered" if reply.matched else "unanswered")
    try:
        if reply.crisis:
            await run_in_threadpool(storage.add_crisis_event)
        elif not reply.matched and (asker is None or await asker.allowance.take(asker.client)):
            await run_in_threadpool(storage.questions.record, message)
    except SQLAlchemyError as error:
        log.warning("a reply was not recorded, the database is unavailable: %s", str(error).splitlines()[0])


async def find(assistant: Assistant, results: ReplyCache[Found], text: str, k: int) -> Found:
    """``assistant.search``, from ``results`` when the same lookup met the same index."""
    key = (normalise(text), k)
    found = results.get(assistant.retriever.version, key)
    if found is None:
        lookup = await run_in_threadpool(assistant.lookup, text, k)
        response = SearchResponse.of(lookup)
        found = Found(response, response.model_dump_json().encode())
        results.put(lookup.index_version, key, found)
    else:
        metrics.cache_hit("results")
    return found


@router.post("/api/chat", tags=["visitors"], response_model=ChatResponse, responses=ERRORS)
async def chat(
    request: Request, body: ChatRequest, assistant: AssistantDep, storage: StorageDep, replies: RepliesDep
) -> Response:
    """Answer a visitor's message with the vetted passage(s) that answer it, the fallback, or crisis resources."""
    answered = await answer(assistant, storage, replies, body.message, body.history, Asker.of(request))
    return Response(answered.body, media_type="application/json")


@router.get("/api/search", tags=["staff"], response_model=SearchResponse, responses=ERRORS)
@router.head("/api/search", include_in_schema=False)  # HEAD: as GET, and the server sends no body
async def search(
    assistant: AssistantDep,
    results: ResultsDep,
    q: Annotated[
        str,
        Query(
            max_length=2000,
            description="What to look up (1 to 500 characters).",
            examples=["dizziness"],
            json_schema_extra=MESSAGE_SCHEMA,
        ),
    ],
    k: Annotated[int, Query(ge=1, le=50, description="How many passages to return.")] = 10,
) -> Response:
    """Ranked passages with scores for staff: no threshold and no crisis gate."""
    try:
        text = clean_message(q)
    except ValueError as error:
        raise HTTPException(422, f"q: {error}") from error
    found = await find(assistant, results, text, k)
    return Response(found.body, media_type="application/json")


@router.post(
    "/api/feedback",
    tags=["visitors"],
    status_code=204,
    responses={404: {"model": ErrorBody}, 503: {"model": ErrorBody}, **ERRORS},
)
def feedback(body: FeedbackRequest, assistant: AssistantDep, storage: StorageDep, settings: SettingsDep) -> Response:
    """Record whether an answer helped. Stores the answer id, the vote, the time and the index version;
    with a 'not helpful' vote, the question too, redacted. 503 with ``Retry-After`` while the database
    cannot be reached."""
    retriever = assistant.retriever
    if not any(p.id == body.answer_id for p in retriever.index.passages):
        raise HTTPException(404, f"no answer with id {body.answer_id!r} in the index being served")
    if settings.feedback_answer_limit != "0":  # a flood of votes must not make one passage look unhelpful
        cap = parse_rate(settings.feedback_answer_limit)
        if storage.recent_votes(body.answer_id, cap.get_expiry()) >= cap.amount:
            detail = f"this answer has had as many votes as it may take ({cap}); please try again later"
            raise HTTPException(429, detail, headers={"Retry-After": str(cap.get_expiry())})
    try:
        storage.add_feedback(body.answer_id, body.helpful, retriever.version, body.voter)
        if not body.helpful and body.question is not None:
            storage.questions.record_unhelpful(body.answer_id, body.question)
    except SQLAlchemyError as error:
        log.warning("a vote was not stored, the database is unavailable: %s", str(error).splitlines()[0])
        raise HTTPException(503, FEEDBACK_UNAVAILABLE, headers={"Retry-After": "30"}) from error
    return Response(status_code=204)


@router.get("/healthz", tags=["operations"])
@router.head("/healthz", include_in_schema=False)  # what uptime monitors send
async def healthz() -> dict[str, str]:
    """200 while the process lives."""
    return {"status": "ok"}


@router.get("/readyz", tags=["operations"], responses={503: {"model": ErrorBody}})
async def readyz(assistant: AssistantDep) -> Ready:
    """200 once the index is loaded, with its version and passage count; 503 before."""
    index = assistant.retriever.index
    return Ready(status="ready", index_version=index.version, passage_count=len(index.passages))
