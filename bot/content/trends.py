"""The dashboard's trends: questions asked, the share left unanswered, crisis replies and the helpful
share, per day over the last 30 days, as small bar charts the server draws (SVG, no script), each with
its numbers for a table that screen readers read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from bot.storage import Storage

DAYS = 30
WIDTH, HEIGHT = 300, 80  # the SVG's drawing units; CSS scales it to the column
GAP = 2


@dataclass(frozen=True)
class Bar:
    day: dt.date
    value: float | None  # None: nothing to show that day (no question asked, no vote)
    shown: str  # the value as the table says it
    x: float
    y: float
    height: float


@dataclass(frozen=True)
class Chart:
    name: str  # an id for the page
    title: str
    summary: str  # one line an editor reads without the chart
    bars: tuple[Bar, ...]
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def bar_width(self) -> float:
        return WIDTH / len(self.bars) - GAP


def chart(name: str, title: str, days: Sequence[dt.date], values: Sequence[float | None], share: bool) -> Chart:
    """Bars scaled to the largest value (to 100 % for a share); a day without a value gets no bar."""
    top = 1.0 if share else max([v for v in values if v is not None] + [1.0])
    step = WIDTH / len(days)
    bars = []
    for i, (day, value) in enumerate(zip(days, values, strict=True)):
        height = 0.0 if value is None else max(HEIGHT * value / top, 1.0 if value else 0.0)
        shown = "—" if value is None else f"{value:.0%}" if share else f"{value:.0f}"
        bars.append(Bar(day, value, shown, round(i * step + GAP / 2, 2), round(HEIGHT - height, 2), round(height, 2)))
    return Chart(name, title, _summary(values, share), tuple(bars))


def _summary(values: Sequence[float | None], share: bool) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "Nothing yet."
    if share:
        return f"From {min(known):.0%} to {max(known):.0%} a day; {known[-1]:.0%} on the last day with any."
    return f"{sum(known):.0f} in {len(values)} days; at most {max(known):.0f} in a day."


def trend_charts(storage: Storage, today: dt.date | None = None) -> list[Chart]:
    """The four charts for the days up to ``today`` (UTC)."""
    today = today or dt.datetime.now(dt.UTC).date()
    days = [today - dt.timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    replies = storage.replies_per_day(days[0])
    votes = storage.feedback_per_day(days[0])
    crisis = storage.crisis_per_day(days[0])
    asked = [float(sum(replies.get(day, {}).values())) for day in days]
    unanswered = [
        replies[day].get("unanswered", 0) / total if (total := sum(replies.get(day, {}).values())) else None
        for day in days
    ]
    helpful = [votes[day][0] / sum(votes[day]) if day in votes else None for day in days]
    return [
        chart("asked", "Questions asked", days, asked, share=False),
        chart("unanswered", "Share left unanswered", days, unanswered, share=True),
        chart("crisis", "Crisis replies", days, [float(crisis.get(day, 0)) for day in days], share=False),
        chart("helpful", "Share of votes saying helpful", days, helpful, share=True),
    ]
