"""The dashboard's trends: replies counted per day by outcome, votes and crisis replies, drawn as bars
with their numbers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bot.content.trends import DAYS, trend_charts
from bot.storage import Storage


def test_replies_votes_and_crisis_replies_make_four_charts_of_thirty_days(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'trends.sqlite3'}"
    storage = Storage(url)
    for outcome in ["answered"] * 6 + ["unanswered"] * 2:
        storage.count_reply(outcome)
    storage.count_reply("crisis")
    storage.add_crisis_event()
    storage.add_feedback("p1", True, "v1")
    storage.add_feedback("p1", True, "v1")
    storage.add_feedback("p2", False, "v1")
    storage.close()  # what was counted in memory is stored when the server stops

    again = Storage(url)
    again.count_reply("answered")  # and what is still in memory is counted too
    today = dt.datetime.now(dt.UTC).date()
    asked, unanswered, crisis, helpful = trend_charts(again, today)
    assert [len(c.bars) for c in (asked, unanswered, crisis, helpful)] == [DAYS] * 4
    assert asked.bars[-1].day == today
    assert asked.bars[0].day == today - dt.timedelta(days=DAYS - 1)
    assert (asked.bars[-1].value, asked.bars[-1].shown) == (10, "10")
    assert asked.bars[-1].height == 80  # the tallest bar fills the chart
    assert asked.bars[-2].height == 0
    assert asked.summary == "10 in 30 days; at most 10 in a day."
    assert unanswered.bars[-1].shown == "20%"
    assert unanswered.bars[-2].value is None  # nothing asked that day: no share, no bar
    assert unanswered.bars[-2].shown == "—"
    assert crisis.bars[-1].value == 1
    assert helpful.bars[-1].shown == "67%"
    assert helpful.summary == "From 67% to 67% a day; 67% on the last day with any."
    again.close()


def test_counts_from_two_processes_add_up(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'two.sqlite3'}"
    first, second = Storage(url), Storage(url)
    first.count_reply("answered")
    second.count_reply("answered")
    second.count_reply("unanswered")
    first.flush_counts()
    second.flush_counts()
    today = dt.datetime.now(dt.UTC).date()
    assert first.replies_per_day(today) == {today: {"answered": 2, "unanswered": 1}}
    first.close()
    second.close()
