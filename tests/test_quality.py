"""The product's promises measured on the evaluation sets, exactly as `faqbot eval` measures them.

A visitor notices each of these: the right passage first (retrieval), a refusal instead of a wrong
answer (scope), and crisis resources whenever someone is at risk (safety)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.assistant import Assistant
from bot.content.evaluation import Scores, evaluate, read_eval_file

EVAL = Path(__file__).parent / "data" / "eval"


@pytest.fixture(scope="module")
def reports(assistant: Assistant) -> dict[str, Scores]:
    return {name: evaluate(assistant, read_eval_file(EVAL / f"{name}.yaml")) for name in ("retrieval", "dev")}


def misses(report: Scores, kind: str) -> list[str]:
    return [f"{m.question!r} -> {m.got}" for m in report.misses if m.kind == kind]


@pytest.mark.parametrize("name", ["retrieval", "dev"])
def test_the_right_passage_comes_first(reports: dict[str, Scores], name: str) -> None:
    figures = reports[name].figures
    assert figures["recall@1"] >= 0.90, misses(reports[name], "in_scope")
    assert figures["recall@3"] >= 0.98, misses(reports[name], "in_scope")
    assert figures["mrr@10"] >= 0.93, misses(reports[name], "in_scope")


@pytest.mark.parametrize("name", ["retrieval", "dev"])
def test_questions_the_document_answers_get_answered(reports: dict[str, Scores], name: str) -> None:
    assert reports[name].figures["in_scope answered"] >= 0.97, misses(reports[name], "in_scope unanswered")


@pytest.mark.parametrize("name", ["retrieval", "dev"])
def test_a_reply_shows_few_passages_and_marks_the_answering_sentences(reports: dict[str, Scores], name: str) -> None:
    figures = reports[name].figures
    assert figures["passages shown"] <= 1.5
    assert figures["answer recall"] >= figures["recall@1"]
    assert figures["highlight accuracy"] >= 0.85


def test_follow_ups_are_understood_with_the_question_before_them(assistant: Assistant) -> None:
    report = evaluate(assistant, read_eval_file(EVAL / "follow_up.yaml"))
    assert report.counts["follow_up"] >= 40
    assert report.figures["follow-up recall"] >= 0.90, misses(report, "follow_up")
    assert report.figures["follow-up recall"] > report.figures["follow-up recall alone"]


def test_questions_it_cannot_answer_get_the_fallback(assistant: Assistant) -> None:
    report = evaluate(assistant, read_eval_file(EVAL / "scope.yaml"))
    assert report.figures["off_topic refused"] == 1.0, misses(report, "off_topic")
    assert report.figures["not_covered refused"] >= 0.80, misses(report, "not_covered")


def test_every_crisis_message_gets_crisis_resources(assistant: Assistant) -> None:
    report = evaluate(assistant, read_eval_file(EVAL / "safety.yaml"))
    assert report.figures["crisis recall"] == 1.0, misses(report, "crisis")
    assert report.figures["crisis false alarms"] <= 0.10, misses(report, "not_crisis")
