"""The HTTP contract of DESIGN.md, field by field, against a real server."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import make_settings
from fastapi.testclient import TestClient

from bot.index import MANIFEST_FILE
from bot.settings import PROJECT_ROOT
from bot.web.app import create_app

SOURCES = "\n".join(p.read_text(encoding="utf-8") for p in sorted((PROJECT_ROOT / "knowledge").glob("*.md")))
ANSWER_FIELDS = {"id": str, "text": str, "section": str, "title": str, "score": float, "highlights": list}
SIDE_EFFECTS = "What are the short-term side effects of ketamine?"
OFF_TOPIC = "What is the best pizza topping in Chicago?"


def chat(client: httpx.Client, message: object) -> httpx.Response:
    return client.post("/api/chat", json={"message": message})


def assert_answer_shape(answer: dict[str, Any]) -> None:
    assert set(answer) == set(ANSWER_FIELDS)
    for name, kind in ANSWER_FIELDS.items():
        assert isinstance(answer[name], kind), name
    assert answer["text"] in SOURCES  # always a verbatim passage
    assert -1.0 <= answer["score"] <= 1.0


def assert_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert detail
    return detail


def test_chat_answers_with_verbatim_passages_and_the_disclaimer(client: httpx.Client, index_dir: Path) -> None:
    response = chat(client, SIDE_EFFECTS)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"answers", "matched", "crisis", "notice", "disclaimer", "index_version", "language_notice"}
    assert body["matched"] is True
    assert body["crisis"] is False
    assert body["notice"] is None
    assert isinstance(body["disclaimer"], str)
    assert "consult your doctor" in body["disclaimer"]
    assert body["index_version"] == json.loads((index_dir / MANIFEST_FILE).read_text())["index_version"]
    assert 1 <= len(body["answers"]) <= 3
    for answer in body["answers"]:
        assert_answer_shape(answer)
    assert "dizziness, nausea, and confusion" in body["answers"][0]["text"]
    assert body["answers"][0]["section"] == "Short-Term Side Effects"
    assert body["answers"][0]["title"] == "Ketamine Therapy for Mental Health Recovery"
    scores = [a["score"] for a in body["answers"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    "question",
    [
        "Can ketamine make me dizzy?",
        "How is ketamine given through the nose?",
        "What happens in the maintenance phase?",
    ],
)
def test_chat_never_gives_more_than_three_answers(client: httpx.Client, question: str) -> None:
    body = chat(client, question).json()
    assert body["matched"] is True
    assert 1 <= len(body["answers"]) <= 3
    for answer in body["answers"]:
        assert_answer_shape(answer)


def test_nothing_close_enough_gives_the_fallback_with_the_clinic_phone(client: httpx.Client) -> None:
    body = chat(client, OFF_TOPIC).json()
    assert body["matched"] is False
    assert body["answers"] == []
    assert body["crisis"] is False
    assert isinstance(body["notice"], str)
    assert "(856) 666-2441" in body["notice"]
    assert "consult your doctor" in body["disclaimer"]
    assert isinstance(body["index_version"], str)


def test_crisis_is_part_of_the_shape(client: httpx.Client) -> None:
    body = chat(client, "I want to kill myself tonight").json()
    assert body["crisis"] is True
    assert body["matched"] is False
    assert body["answers"] == []
    assert "988" in body["notice"]
    assert "consult your doctor" in body["disclaimer"]


@pytest.mark.parametrize(
    ("message", "status"),
    [("", 422), ("   \n\t ", 422), ("x" * 501, 422), ("  " + "x" * 500 + "  ", 200), ("x" * 500, 200)],
    ids=["empty", "whitespace", "501 characters", "500 after trimming", "500 characters"],
)
def test_message_length_is_1_to_500_after_trimming(client: httpx.Client, message: str, status: int) -> None:
    response = chat(client, message)
    if status == 200:
        assert response.status_code == 200, response.text
        assert isinstance(response.json()["matched"], bool)
    else:
        assert "message" in assert_error(response, status)


@pytest.mark.parametrize(
    "body",
    [{}, {"message": 5}, {"message": None}, {"message": "hi", "extra": 1}, [], "just text"],
    ids=["no message", "number", "null", "extra field", "list", "string"],
)
def test_a_malformed_chat_body_is_422_json(client: httpx.Client, body: object) -> None:
    assert_error(client.post("/api/chat", json=body), 422)


def test_a_chat_body_that_is_not_json_is_422_json(client: httpx.Client) -> None:
    response = client.post("/api/chat", content=b"{not json", headers={"content-type": "application/json"})
    assert_error(response, 422)


def search(client: httpx.Client, q: str, k: object = None) -> httpx.Response:
    params: dict[str, Any] = {"q": q} if k is None else {"q": q, "k": k}
    return client.get("/api/search", params=params)


def test_search_ranks_passages_by_score(client: httpx.Client, index_dir: Path) -> None:
    response = search(client, "bladder problems")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "matched", "index_version"}
    assert body["index_version"] == json.loads((index_dir / MANIFEST_FILE).read_text())["index_version"]
    assert len(body["results"]) == 10  # the default k
    for result in body["results"]:
        assert isinstance(result.pop("shown"), bool)
        assert_answer_shape(result)
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert len({r["id"] for r in body["results"]}) == 10
    assert "bladder problems" in body["results"][0]["text"]


@pytest.mark.parametrize("k", [1, 3, 50])
def test_search_has_no_threshold(client: httpx.Client, index_dir: Path, k: int) -> None:
    """An off-topic query still returns k passages (or every passage, when there are fewer)."""
    count = json.loads((index_dir / MANIFEST_FILE).read_text())["passage_count"]
    body = search(client, OFF_TOPIC, k).json()
    assert len(body["results"]) == min(k, count)


def test_search_has_no_crisis_gate(client: httpx.Client) -> None:
    body = search(client, "I want to kill myself", 3).json()
    assert len(body["results"]) == 3


@pytest.mark.parametrize("k", [0, 51, -1, "ten", 2.5])
def test_search_k_outside_1_to_50_is_422(client: httpx.Client, k: object) -> None:
    assert "k" in assert_error(search(client, "ketamine", k), 422)


@pytest.mark.parametrize("q", ["", "   ", "x" * 501])
def test_search_query_must_be_1_to_500_characters(client: httpx.Client, q: str) -> None:
    assert "q" in assert_error(search(client, q), 422)


def test_search_without_a_query_is_422(client: httpx.Client) -> None:
    assert "q" in assert_error(client.get("/api/search"), 422)


def test_feedback_on_a_served_answer_is_204(client: httpx.Client) -> None:
    answer_id = chat(client, SIDE_EFFECTS).json()["answers"][0]["id"]
    response = client.post("/api/feedback", json={"answer_id": answer_id, "helpful": False})
    assert response.status_code == 204
    assert response.content == b""


def test_feedback_on_an_unknown_answer_is_404_json(client: httpx.Client) -> None:
    response = client.post("/api/feedback", json={"answer_id": "no-such-document#nothing-1", "helpful": True})
    assert "no-such-document#nothing-1" in assert_error(response, 404)


@pytest.mark.parametrize(
    "body",
    [
        {"answer_id": "ketamine-therapy#short-term-side-effects-1"},
        {"helpful": True},
        {"answer_id": "ketamine-therapy#short-term-side-effects-1", "helpful": "maybe"},
        {"answer_id": "", "helpful": True},
        {"answer_id": 7, "helpful": True},
        {"answer_id": "ketamine-therapy#short-term-side-effects-1", "helpful": True, "comment": "x"},
        [],
    ],
    ids=["no vote", "no id", "vote not a bool", "empty id", "id a number", "extra field", "list"],
)
def test_malformed_feedback_is_422_json(client: httpx.Client, body: object) -> None:
    assert_error(client.post("/api/feedback", json=body), 422)


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_gives_the_index_version_and_passage_count(client: httpx.Client, index_dir: Path) -> None:
    manifest = json.loads((index_dir / MANIFEST_FILE).read_text())
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["index_version"] == manifest["index_version"]
    assert body["passage_count"] == manifest["passage_count"]
    assert isinstance(body["passage_count"], int)


def test_before_the_index_is_loaded_readyz_is_503_and_healthz_200(tmp_path: Path, index_dir: Path) -> None:
    # Without entering the client, the lifespan (model and index loading) never runs.
    client = TestClient(create_app(make_settings(tmp_path, index_dir)))
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert isinstance(response.json()["detail"], str)
    assert client.post("/api/chat", json={"message": "hello"}).status_code == 503
    # The pages say it in words, and still check what was typed first.
    posted = client.post("/", data={"message": "Is ketamine safe?"})
    assert posted.status_code == 503
    assert "still starting" in posted.text
    assert client.post("/", data={"message": " "}).status_code == 422
    searched = client.get("/staff", params={"q": "dizziness"})
    assert searched.status_code == 503
    assert "still loading" in searched.text


def test_unknown_routes_and_methods_answer_json(client: httpx.Client) -> None:
    assert_error(client.get("/api/nothing-here"), 404)
    assert_error(client.get("/api/chat"), 405)


def test_openapi_documents_the_contract_with_examples(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    for path, method in (
        ("/api/chat", "post"),
        ("/api/search", "get"),
        ("/api/feedback", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ):
        assert method in spec["paths"][path], path
    schemas = spec["components"]["schemas"]
    for name in ("ChatRequest", "ChatResponse", "SearchResponse", "FeedbackRequest", "Ready"):
        assert schemas[name].get("examples"), name
    assert schemas["ChatRequest"]["examples"][0]["message"]
    response_example = schemas["ChatResponse"]["examples"][0]
    # FastAPI leaves None out of the published spec, so "notice": null does not show.
    assert set(response_example) >= {"answers", "matched", "crisis", "disclaimer", "index_version"}
    assert response_example["answers"][0]["text"] in SOURCES
    assert set(spec["paths"]["/api/search"]["get"]["responses"]) >= {"200", "422"}


def test_each_answer_marks_its_answering_sentences_by_offsets(client: httpx.Client) -> None:
    reply = client.post("/api/chat", json={"message": "Can ketamine make me dizzy?"}).json()
    assert reply["matched"]
    for answer in reply["answers"]:
        spans = answer["highlights"]
        assert spans, answer["id"]
        assert spans == sorted(spans)
        assert all(0 <= start < end <= len(answer["text"]) for start, end in spans)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))
        # On sentence boundaries: a span starts a sentence and ends one.
        for start, end in spans:
            assert start == 0 or answer["text"][start - 1].isspace()
            assert answer["text"][end - 1] in '.!?:”"' or end == len(answer["text"])
    marked = " ".join(reply["answers"][0]["text"][s:e] for s, e in reply["answers"][0]["highlights"])
    assert "dizziness" in marked


def test_a_reply_shows_the_passage_that_answers_not_three(client: httpx.Client) -> None:
    reply = client.post("/api/chat", json={"message": "How is the nasal spray used?"}).json()
    assert reply["matched"]
    assert len(reply["answers"]) == 1
    assert "spray" in reply["answers"][0]["text"]


def test_a_follow_up_is_answered_with_the_question_before_it(client: httpx.Client) -> None:
    follow_up = "and do those go away?"
    alone = client.post("/api/chat", json={"message": follow_up}).json()
    history = ["What are the short-term side effects of ketamine?"]
    reply = client.post("/api/chat", json={"message": follow_up, "history": history}).json()
    assert reply["matched"]
    assert "typically fade as the drug leaves the system" in reply["answers"][0]["text"]
    assert alone != reply


def test_history_never_hides_a_crisis(client: httpx.Client) -> None:
    history = ["What are the side effects?", "How long does a session take?"]
    reply = client.post("/api/chat", json={"message": "i want to end my life tonight", "history": history}).json()
    assert reply["crisis"] is True
    assert reply["answers"] == []


@pytest.mark.parametrize(
    "history",
    [["a", "b", "c", "d"], [""], ["x" * 501], "not a list", [1]],
    ids=["four questions", "empty question", "too long", "not a list", "not text"],
)
def test_bad_history_is_422(client: httpx.Client, history: object) -> None:
    assert_error(client.post("/api/chat", json={"message": "and how long?", "history": history}), 422)


def test_search_says_whether_the_visitor_page_would_answer(client: httpx.Client) -> None:
    answered = client.get("/api/search", params={"q": "Can ketamine make me dizzy?", "k": 10}).json()
    assert answered["matched"] is True
    shown = [r for r in answered["results"] if r["shown"]]
    assert shown
    assert shown == answered["results"][: len(shown)]
    assert all(r["highlights"] for r in answered["results"])
    refused = client.get("/api/search", params={"q": "is the clinic open on Sundays", "k": 10}).json()
    assert refused["matched"] is False
    assert len(refused["results"]) == 10
    assert not any(r["shown"] for r in refused["results"])


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("¿Cuánto tiempo dura el efecto de la ketamina?", "está en inglés"),
        ("Quels sont les effets secondaires de la kétamine ?", "en anglais"),
        ("Wie lange dauert eine Ketamin-Sitzung?", "auf Englisch"),
    ],
)
def test_a_question_in_another_language_gets_a_line_in_that_language(
    client: httpx.Client, message: str, words: str
) -> None:
    reply = client.post("/api/chat", json={"message": message}).json()
    assert words in reply["language_notice"]
    assert "(856) 666-2441" in reply["language_notice"]


def test_english_questions_get_no_language_line(client: httpx.Client) -> None:
    for message in ("Is it safe?", "ketamine side effects", "dizzy after infusion?", "How long does it last?"):
        assert client.post("/api/chat", json={"message": message}).json()["language_notice"] is None, message


def test_a_crisis_message_in_spanish_keeps_the_crisis_card_and_its_spanish_line(client: httpx.Client) -> None:
    reply = client.post("/api/chat", json={"message": "ya no quiero vivir, quiero morirme"}).json()
    assert reply["crisis"] is True
    assert "988" in reply["notice"]
    assert "español" in reply["notice"]
    assert "está en inglés" in reply["language_notice"]


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/search?q=dizziness"])
def test_head_answers_as_get_without_a_body(client: httpx.Client, path: str) -> None:
    """Uptime monitors check with HEAD: the same status and headers as GET, and no body."""
    got = client.get(path)
    head = client.head(path)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
