"""Times, dates and versions as an editor reads them, and the time zone setting."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from bot.settings import Settings
from bot.wording import day_words, iso, short_version, when_words, zone

NOW = dt.datetime(2026, 12, 2, 9, 30, tzinfo=dt.UTC)


def test_a_time_reads_as_day_month_and_clock_with_the_year_only_when_it_is_another() -> None:
    assert when_words("2026-12-02T09:14:07+00:00", now=NOW) == "2 December, 09:14"
    assert when_words(dt.datetime(2025, 12, 30, 23, 5, tzinfo=dt.UTC), now=NOW) == "30 December 2025, 23:05"
    assert when_words(dt.datetime(2026, 3, 1, 8, 0), now=NOW) == "1 March, 08:00"  # naive: UTC, as SQLite gives
    assert day_words(dt.date(2026, 11, 30), dt.date(2026, 12, 2)) == "30 November"


def test_times_are_shown_in_the_time_zone_set_and_kept_exact_for_machines() -> None:
    new_york = zone("America/New_York")
    assert when_words("2026-12-02T09:14:00+00:00", new_york, NOW) == "2 December, 04:14"
    assert when_words("2027-01-01T02:00:00+00:00", new_york, NOW) == "31 December, 21:00"
    assert iso(dt.datetime(2026, 12, 2, 9, 14)) == "2026-12-02T09:14:00+00:00"
    assert short_version("fc3786b9a1e2d3c4") == "fc3786b"


def test_an_unknown_time_zone_is_refused_with_the_setting_named() -> None:
    assert Settings(_env_file=None, time_zone="Europe/Paris").time_zone == "Europe/Paris"  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="is not a time zone such as UTC"):
        Settings(_env_file=None, time_zone="Mars/Olympus")  # type: ignore[call-arg]
