"""Related topics: the sections that came closest without being shown, each with a question that finds it."""

from __future__ import annotations

from dataclasses import replace

from bot.assistant import Assistant
from bot.retrieval import Result
from bot.topics import MAX_TOPICS, topics_below

IN_SCOPE = "Can ketamine make me dizzy?"
NOT_COVERED = "What payment plans do you offer?"


def test_related_topics_skip_the_answer_sections_and_their_questions_find_them(assistant: Assistant) -> None:
    reply = assistant.chat(IN_SCOPE)
    answered = {r.passage.section for r in reply.answers}
    topics = topics_below(reply.ranking, assistant.retriever.index.passages, shown=len(reply.answers))
    assert 1 <= len(topics) <= MAX_TOPICS
    assert len({t.section for t in topics}) == len(topics)  # each section once
    for topic in topics:
        assert topic.section not in answered
        asked = assistant.chat(topic.question)
        assert asked.matched
        assert asked.answers[0].passage.section == topic.section


def test_a_reply_without_an_answer_offers_the_closest_sections_best_first(assistant: Assistant) -> None:
    reply = assistant.chat(NOT_COVERED)
    assert not reply.matched
    topics = topics_below(reply.ranking, assistant.retriever.index.passages, shown=0)
    assert len(topics) == MAX_TOPICS
    first_sections = list(dict.fromkeys(r.passage.section for r in reply.ranking))[:MAX_TOPICS]
    assert [t.section for t in topics] == first_sections


def test_a_section_without_alternate_questions_is_asked_by_its_heading(assistant: Assistant) -> None:
    reply = assistant.chat(IN_SCOPE)
    passages = [replace(p, questions=()) for p in assistant.retriever.index.passages]
    ranking = [replace(r, passage=replace(r.passage, questions=())) for r in reply.ranking]
    topics = topics_below(ranking, passages, shown=len(reply.answers))
    assert topics
    assert all(t.question == t.section for t in topics)


def test_the_same_heading_in_two_files_is_two_topics(assistant: Assistant) -> None:
    ranking = assistant.chat(IN_SCOPE).ranking
    first = ranking[0]
    twin = Result(replace(first.passage, id="other#x", title="Another leaflet"), first.score, first.dense, 0.0)
    topics = topics_below([first, twin], [first.passage, twin.passage], shown=0)
    assert [t.section for t in topics] == [first.passage.section, first.passage.section]
