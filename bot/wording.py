"""Times, dates and versions in an editor's words: "2 December, 09:14", "version fc3786b".

The dashboard shows these and keeps the exact ISO time beside them in ``<time datetime>`` for
machines. Times are shown in ``FAQBOT_TIME_ZONE``; the year only when it is not this year's.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SHORT_VERSION = 7  # as many characters of a version as a person reads and compares


def zone(name: str) -> dt.tzinfo:
    """The time zone called ``name``; UTC needs no time zone database."""
    if name.upper() in ("UTC", "Z"):
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"{name!r} is not a time zone such as UTC or America/New_York") from error


def moment(stamp: dt.datetime | str) -> dt.datetime:
    """A timestamp as an aware datetime; a naive one (as SQLite gives back) is UTC."""
    value = dt.datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def day_words(day: dt.date, today: dt.date | None = None) -> str:
    """``2 December``, or ``2 December 2025`` when it is not this year."""
    today = today or dt.date.today()
    text = f"{day.day} {day:%B}"
    return text if day.year == today.year else f"{text} {day.year}"


def when_words(stamp: dt.datetime | str, tz: dt.tzinfo = dt.UTC, now: dt.datetime | None = None) -> str:
    """``2 December, 09:14`` in ``tz``."""
    local = moment(stamp).astimezone(tz)
    today = (now or dt.datetime.now(dt.UTC)).astimezone(tz).date()
    return f"{day_words(local.date(), today)}, {local:%H:%M}"


def iso(stamp: dt.datetime | str) -> str:
    """The machine-readable form for ``<time datetime>``."""
    return moment(stamp).isoformat(timespec="seconds")


def short_version(version: str) -> str:
    return version[:SHORT_VERSION]
