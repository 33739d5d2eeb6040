"""The question log: only unanswered questions, redacted, grouped, expiring; and, against a real
server, planted personal data that never reaches a file or a log line."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, make_settings

from bot.embedding import SentenceTransformerEmbedder
from bot.storage import Storage

TOKEN = "question-log-token"
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def storage(tmp_path: Path, **options: object) -> Storage:
    return Storage(f"sqlite:///{tmp_path / 'log.sqlite3'}", **options)  # type: ignore[arg-type]


def test_similar_questions_are_grouped_with_counts_and_last_seen(tmp_path: Path) -> None:
    log = storage(tmp_path).questions
    log.record("How much does ketamine cost?", now=NOW - dt.timedelta(days=2))
    log.record("how much does KETAMINE cost", now=NOW - dt.timedelta(days=1))
    log.record("What does ketamine cost? pat@example.com", now=NOW)
    log.record("Does insurance cover it?", now=NOW)
    groups = log.groups(now=NOW)
    assert [g.count for g in groups] == [3, 1]
    assert groups[0].text == "What does ketamine cost? [email]"  # the latest wording, redacted
    assert groups[0].last_seen == NOW
    assert groups[0].first_seen == NOW - dt.timedelta(days=2)


def test_retention_purges_old_questions_and_hides_them_before_the_purge(tmp_path: Path) -> None:
    log = storage(tmp_path, retention_days=30).questions
    log.record("Is parking free?", now=NOW - dt.timedelta(days=31))
    log.record("Is parking free at night?", now=NOW - dt.timedelta(days=29))
    assert [g.text for g in log.groups(now=NOW)] == ["Is parking free at night?"]
    assert log.purge(now=NOW) == 1
    assert log.total() == 1


def test_logging_off_keeps_nothing_and_clears_what_was_kept(tmp_path: Path) -> None:
    storage(tmp_path).questions.record("Is parking free?")
    log = storage(tmp_path, log_questions=False).questions
    log.record("Do you take walk-ins?")
    assert log.purge() == 1
    assert log.total() == 0


RAW = {
    "email": "jane.doe@example.com",
    "phone": "555-0134",
    "street": "Wallaby Way",
    "name": "Jane Doe",
}
PLANTED = [
    "My name is Jane Doe, do you validate parking for the garage?",
    "email me at jane.doe@example.com about your parking garage hours",
    "my number is (609) 555-0134, is the parking garage open on sundays",
    "I live at 42 Wallaby Way, how far is your parking garage from the train",
]


def files_containing(folder: Path, needle: str) -> list[Path]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and needle.lower().encode() in path.read_bytes().lower():
            found.append(path)
    return found


def test_planted_personal_data_never_reaches_disk_or_logs(
    tmp_path: Path,
    index_dir: Path,
    embedder: SentenceTransformerEmbedder,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings(tmp_path, index_dir, admin_token=TOKEN)
    access = logging.getLogger("uvicorn.access")
    caplog.set_level(logging.INFO)
    with LiveServer(settings, embedder) as live, httpx.Client(base_url=live.url, timeout=60) as http:
        # LiveServer logs warnings only; switch the access log on to see what it would write.
        access.setLevel(logging.INFO)
        access.addHandler(caplog.handler)
        try:
            for message in PLANTED:
                reply = http.post("/api/chat", json={"message": message}).json()
                assert (reply["matched"], reply["crisis"]) == (False, False)
            # The same data in URLs, where the access log would see it.
            assert http.get("/api/search", params={"q": PLANTED[1]}).status_code == 200
            assert http.get("/staff", params={"q": PLANTED[0]}).status_code == 200
            report = http.get("/admin/report", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        finally:
            access.removeHandler(caplog.handler)
    kept = " ".join(g["question"] for g in report["unanswered"])
    for placeholder in ("[name]", "[email]", "[phone]", "[address]"):
        assert placeholder in kept  # the questions were kept, redacted
    # Everything the server side logged; the test's own HTTP client (httpx) logs its URLs, not the server.
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore")))
    assert "/api/search" in logged  # the access log did run
    output = logged + capfd.readouterr().out
    assert files_containing(tmp_path, "[email]")  # the search does read the database file
    for kind, raw in RAW.items():
        assert files_containing(tmp_path, raw) == [], kind
        assert raw.casefold() not in kept.casefold(), kind
        assert raw.casefold() not in output.casefold(), kind


def test_a_burst_of_new_questions_does_not_push_out_what_visitors_asked_once(tmp_path: Path) -> None:
    """Twenty questions asked once each over ten days, then 600 different ones within a minute: the
    dashboard's list still holds the twenty, and what was asked twice comes first."""
    log = storage(tmp_path).questions
    topics = ["parking", "wheelchair", "interpreter", "pharmacy", "lockers", "wifi", "cafeteria", "elevator"]
    earlier = [f"is there {topic} number {n} at the clinic" for n, topic in enumerate(topics * 3)][:20]
    for day, question in enumerate(earlier):
        log.record(question, now=NOW - dt.timedelta(days=10) + dt.timedelta(hours=12 * day))
    for _ in range(2):
        log.record("do you validate parking tickets", now=NOW - dt.timedelta(days=2))
    letters = "bcdfghjklmnpqrstvwxz"
    for n in range(600):
        made_up = "".join(letters[int(digit)] for digit in f"{n:03d}")  # a different word each time
        log.record(f"what about {made_up}ax and {made_up}ox", now=NOW + dt.timedelta(seconds=n / 10))
    shown = log.groups(limit=100, now=NOW + dt.timedelta(minutes=2))
    assert len(shown) == 100
    texts = {group.text for group in shown}
    assert all(question in texts for question in earlier)
    assert shown[0].text == "do you validate parking tickets"
    assert shown[0].count == 2


def test_a_not_helpful_vote_keeps_its_question_redacted_beside_the_answer(
    tmp_path: Path, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    """The content team sees what a passage failed to answer, as redacted groups; a "Yes" keeps nothing."""
    settings = make_settings(tmp_path, index_dir, admin_token="token-for-this-test")
    question = "Jane Doe here, my number is 555-123-4567: how long does the dizziness last?"
    with LiveServer(settings, embedder) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        answer = client.post("/api/chat", json={"message": "Can ketamine make me dizzy?"}).json()["answers"][0]["id"]
        for helpful, asked in [
            (False, question),
            (False, question.replace("how long", "How long")),
            (True, "kept by nobody: a yes"),
        ]:
            vote = {"answer_id": answer, "helpful": helpful, "question": asked}
            assert client.post("/api/feedback", json=vote).status_code == 204
        blank = {"answer_id": answer, "helpful": False, "question": " "}
        assert client.post("/api/feedback", json=blank).status_code == 422

        report = client.get("/admin/report", headers={"Authorization": "Bearer token-for-this-test"}).json()
        rated = next(a for a in report["unhelpful"] if a["answer_id"] == answer)
        assert rated["unhelpful"] == 2
        [group] = rated["questions"]  # the two wordings differ only in case: one group
        assert group["count"] == 2
        assert "dizziness" in group["question"].casefold()
        assert "Jane" not in group["question"]
        assert "555" not in group["question"]
        assert "nobody" not in str(report)

        live.app.state.storage.purge(dt.datetime.now(dt.UTC) + dt.timedelta(days=settings.question_retention_days + 1))
        assert live.app.state.storage.questions.unhelpful_groups(answer) == []
