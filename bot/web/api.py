"""The JSON API of DESIGN.md: chat, search, feedback and health."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from bot.assistant import Assistant, ChatReply
from bot.cache import ReplyCache, cached_chat, cached_search
from bot.retrieval import Result
from bot.storage import Storage
from bot.web.schemas import (
    MESSAGE_SCHEMA,
    Answer,
    ChatRequest,
    ChatResponse,
    ErrorBody,
    FeedbackRequest,
    Ready,
    SearchResponse,
    clean_message,
)

router = APIRouter()
ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "The request is not valid; `detail` says why."}
}


def get_assistant(request: Request) -> Assistant:
    assistant: Assistant | None = request.app.state.assistant
    if assistant is None:
        raise HTTPException(503, "the index is still loading")
    return assistant


def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


def get_replies(request: Request) -> ReplyCache[ChatReply]:
    replies: ReplyCache[ChatReply] = request.app.state.replies
    return replies


def get_results(request: Request) -> ReplyCache[tuple[Result, ...]]:
    results: ReplyCache[tuple[Result, ...]] = request.app.state.results
    return results


AssistantDep = Annotated[Assistant, Depends(get_assistant)]
StorageDep = Annotated[Storage, Depends(get_storage)]
RepliesDep = Annotated[ReplyCache[ChatReply], Depends(get_replies)]
ResultsDep = Annotated[ReplyCache[tuple[Result, ...]], Depends(get_results)]
NO_REPLIES: ReplyCache[ChatReply] = ReplyCache(0)  # for callers outside a request: nothing cached


@router.post("/api/chat", tags=["visitors"], responses=ERRORS)
def chat(
    body: ChatRequest, assistant: AssistantDep, storage: StorageDep, replies: RepliesDep = NO_REPLIES
) -> ChatResponse:
    """Answer a visitor's message with up to three vetted passages, the fallback, or crisis resources."""
    reply = cached_chat(assistant, replies, body.message)
    if reply.crisis:
        storage.add_crisis_event()
    elif not reply.matched:
        storage.questions.record(body.message)  # redacted before it is kept; never the raw text
    return ChatResponse.of(reply)


@router.get("/api/search", tags=["staff"], responses=ERRORS)
def search(
    assistant: AssistantDep,
    cache: ResultsDep,
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
) -> SearchResponse:
    """Ranked passages with scores for staff: no threshold and no crisis gate."""
    try:
        text = clean_message(q)
    except ValueError as error:
        raise HTTPException(422, f"q: {error}") from error
    results, version = cached_search(assistant, cache, text, k)
    return SearchResponse(results=[Answer.of(r) for r in results], index_version=version)


@router.post("/api/feedback", tags=["visitors"], status_code=204, responses={404: {"model": ErrorBody}, **ERRORS})
def feedback(body: FeedbackRequest, assistant: AssistantDep, storage: StorageDep) -> Response:
    """Record whether an answer helped. Stores the answer id, the vote, the time and the index version."""
    retriever = assistant.retriever
    if not any(p.id == body.answer_id for p in retriever.index.passages):
        raise HTTPException(404, f"no answer with id {body.answer_id!r} in the index being served")
    storage.add_feedback(body.answer_id, body.helpful, retriever.version)
    return Response(status_code=204)


@router.get("/healthz", tags=["operations"])
def healthz() -> dict[str, str]:
    """200 while the process lives."""
    return {"status": "ok"}


@router.get("/readyz", tags=["operations"], responses={503: {"model": ErrorBody}})
def readyz(assistant: AssistantDep) -> Ready:
    """200 once the index is loaded, with its version and passage count; 503 before."""
    index = assistant.retriever.index
    return Ready(status="ready", index_version=index.version, passage_count=len(index.passages))
