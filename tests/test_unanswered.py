"""Unanswered questions as a to-do list: wordings grouped by meaning, why each went unanswered, weekly
totals, and groups marked handled until they are asked again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bot.assistant import Assistant
from bot.content.unanswered import TopicList, per_week, topics
from bot.questionlog import QuestionGroup, group_key
from bot.storage import Handled, Storage

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


def asked(text: str, count: int = 1, days_ago: int = 0) -> QuestionGroup:
    when = NOW - dt.timedelta(days=days_ago)
    return QuestionGroup(text, count, when, when, group_key(text))


def test_wordings_that_mean_the_same_are_one_topic(assistant: Assistant) -> None:
    groups = [
        asked("Can I take ketamine while pregnant?", 2),
        asked("is it ok while pregnant"),
        asked("ketamine during pregnancy"),
        asked("Do you validate parking?"),
        asked("is parking free"),
        asked("Can I drink alcohol after ketamine"),
        asked("what are your opening hours"),
    ]
    found = {tuple(sorted(g.text for g in t.wordings)) for t in topics(assistant, groups, {})}
    assert ("Can I take ketamine while pregnant?", "is it ok while pregnant", "ketamine during pregnancy") in found
    assert ("Do you validate parking?", "is parking free") in found
    assert ("Can I drink alcohol after ketamine",) in found  # near "ketamine" questions, but not the same
    assert ("what are your opening hours",) in found
    first = topics(assistant, groups, {})[0]
    assert (first.text, first.count) == ("Can I take ketamine while pregnant?", 4)  # most asked first


def test_each_topic_says_why_it_went_unanswered(assistant: Assistant) -> None:
    cost, nowhere, answered = topics(
        assistant,
        [
            asked("how much does a session cost", 3),
            asked("can ketamine cure tinnitus", 2),
            asked("What are the short-term side effects of ketamine?"),
        ],
        {},
    )
    assert cost.why.out_of_scope_topic is not None
    assert "cost" in cost.why.out_of_scope_topic
    assert cost.why.words.startswith(f"Closer to the out-of-scope topic “{cost.why.out_of_scope_topic}”")
    assert nowhere.why.out_of_scope_topic is None
    assert nowhere.why.words.startswith("Below the threshold: the nearest passage, “")
    assert answered.why.answered_now  # a passage was added since: the editor can tick it off
    assert "answers it now" in answered.why.words


def test_a_handled_topic_stays_handled_until_it_is_asked_again(tmp_path: Path, assistant: Assistant) -> None:
    storage = Storage(f"sqlite:///{tmp_path / 'handled.sqlite3'}")
    groups = [asked("Do you validate parking?", days_ago=2), asked("is parking free", days_ago=1)]
    storage.mark_handled([g.key for g in groups], "Ana", NOW - dt.timedelta(hours=1))
    [topic] = topics(assistant, groups, storage.handled())
    assert topic.handled is not None
    assert (topic.handled.by, topic.handled.at) == ("Ana", NOW - dt.timedelta(hours=1))
    again = [groups[0], asked("is parking free", 2, days_ago=0)]  # asked after it was marked
    [reopened] = topics(assistant, again, storage.handled())
    assert reopened.handled is None
    storage.close()


def test_totals_per_week_start_on_monday_newest_first() -> None:
    stamps = [dt.datetime(2026, 12, d, 10, tzinfo=dt.UTC) for d in (1, 2, 2)]
    stamps += [dt.datetime(2026, 11, 29, 23, 30, tzinfo=dt.UTC), dt.datetime(2026, 11, 23, tzinfo=dt.UTC)]
    assert per_week(stamps) == [(dt.date(2026, 11, 30), 3), (dt.date(2026, 11, 23), 2)]


def test_the_dashboard_groups_again_only_when_the_questions_change(tmp_path: Path, assistant: Assistant) -> None:
    """Marking a topic handled reloads the dashboard: that must not embed every question again."""
    listing = TopicList()
    groups = [asked("Do you validate parking?"), asked("is parking free")]
    first = listing(assistant, groups, {})
    marked = listing(assistant, groups, {g.key: Handled("Ana", NOW) for g in groups})
    assert marked[0].why is first[0].why  # the same grouping, not worked out again
    assert marked[0].handled == Handled("Ana", NOW)
    more = listing(assistant, [*groups, asked("when are you open")], {})
    assert more[0].why is not first[0].why
    assert len(more) == 2
