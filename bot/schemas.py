"""What the HTTP API takes and gives, validated in one place."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from bot.assistant import ChatReply, Lookup
from bot.retrieval import Result

MAX_MESSAGE = 500
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_message(value: str) -> str:
    """Strip control characters and surrounding space; 1 to 500 characters must remain."""
    value = CONTROL.sub(" ", value).strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > MAX_MESSAGE:
        raise ValueError(f"must be at most {MAX_MESSAGE} characters")
    return value


# What clean_message accepts, said in JSON Schema for clients and fuzzers: after optional blanks or
# control characters, 1 to 500 characters from the first visible one to the last, then optional blanks.
_BLANK = r"[\s\x00-\x1f\x7f-\x9f]"
_VISIBLE = r"[^\s\x00-\x1f\x7f-\x9f]"
MESSAGE_SCHEMA = {
    "minLength": 1,
    "pattern": f"^{_BLANK}*{_VISIBLE}(?:[\\s\\S]{{0,{MAX_MESSAGE - 2}}}{_VISIBLE})?{_BLANK}*$",
}
Message = Annotated[
    str, Field(max_length=4 * MAX_MESSAGE, json_schema_extra=MESSAGE_SCHEMA), AfterValidator(clean_message)
]


MAX_HISTORY = 3


class ChatRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"message": "Can ketamine make me dizzy?"},
                {"message": "and how long does that last?", "history": ["What happens during an IV infusion?"]},
            ]
        },
    )

    message: Message
    history: list[Message] = Field(
        default_factory=list,
        max_length=MAX_HISTORY,
        description="The visitor's earlier questions in this conversation, oldest first (at most 3). "
        "A message that reads as a follow-up is answered together with the last of them. Never stored.",
    )


EXAMPLE_ANSWER: JsonDict = {
    "id": "ketamine-therapy#short-term-side-effects-1",
    "text": "Ketamine, a medication primarily used for anesthesia, may cause short-term side effects. "
    "These include dizziness, nausea, and confusion. People may experience hallucinations or vivid dreams. "
    "Some may encounter changes in perception, such as distorted vision or altered sense of time.",
    "section": "Short-Term Side Effects",
    "title": "Ketamine Therapy for Mental Health Recovery",
    "score": 0.74,
    "highlights": [[89, 137]],
}
EXAMPLE_VERSION = "3f9c2a1b7d4e8f60"


class Answer(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_ANSWER]})

    id: str
    text: str
    section: str
    title: str
    score: float
    highlights: list[tuple[int, int]] = Field(
        description="The sentences that answer the question, as [start, end] character offsets into text: "
        "sorted, never overlapping, on sentence boundaries. Mark them; never change the text."
    )

    @classmethod
    def of(cls, result: Result) -> Answer:
        p = result.passage
        return cls(
            id=p.id,
            text=p.text,
            section=p.section,
            title=p.title,
            score=result.score,
            highlights=list(result.highlights),
        )


class SearchResult(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [{**EXAMPLE_ANSWER, "shown": True}]})

    shown: bool = Field(description="Whether the visitor page would show this passage for the same question.")


class ChatResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "answers": [EXAMPLE_ANSWER],
                    "matched": True,
                    "crisis": False,
                    "notice": None,
                    "disclaimer": "This is general information from our vetted materials, not medical advice. "
                    "Please consult your doctor before starting, changing or stopping any treatment.",
                    "index_version": EXAMPLE_VERSION,
                }
            ]
        }
    )

    answers: list[Answer]
    matched: bool
    crisis: bool
    notice: str | None
    disclaimer: str
    index_version: str
    language_notice: str | None = Field(
        default=None,
        description="For a message not in English: one fixed line in its language saying that the information "
        "is in English and how to reach a person who speaks it.",
    )

    @classmethod
    def of(cls, reply: ChatReply) -> ChatResponse:
        return cls(
            answers=[Answer.of(r) for r in reply.answers],
            matched=reply.matched,
            crisis=reply.crisis,
            notice=reply.notice,
            disclaimer=reply.disclaimer,
            index_version=reply.index_version,
            language_notice=reply.language_notice,
        )


class SearchResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"results": [{**EXAMPLE_ANSWER, "shown": True}], "matched": True, "index_version": EXAMPLE_VERSION}
            ]
        }
    )

    results: list[SearchResult]
    matched: bool = Field(description="Whether the visitor page would answer this question (no crisis gate here).")
    index_version: str

    @classmethod
    def of(cls, lookup: Lookup) -> SearchResponse:
        results = [
            SearchResult(**Answer.of(r).model_dump(), shown=r.passage.id in lookup.shown) for r in lookup.results
        ]
        return cls(results=results, matched=lookup.matched, index_version=lookup.index_version)


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"answer_id": "ketamine-therapy#short-term-side-effects-1", "helpful": True}]},
    )

    answer_id: str = Field(min_length=1, max_length=200)
    helpful: bool
    voter: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{16,64}$",
        description="A random id the page makes for each reply (never anything about the visitor): a second "
        "vote with the same id on the same answer replaces the first.",
    )
    question: Message | None = Field(
        default=None,
        description="The question the answer was given to. Kept only with a 'not helpful' vote, redacted as the "
        "unanswered questions are, so that the content team sees what the passage failed to answer.",
    )


class Ready(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ready", "index_version": EXAMPLE_VERSION, "passage_count": 37}]}
    )

    status: str
    index_version: str
    passage_count: int


class ErrorBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"detail": "message: Value error, must not be empty"}]})

    detail: str
