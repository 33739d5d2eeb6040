"""What the service keeps: the database file itself is private to the service's user."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

from bot.storage import Storage


def test_the_sqlite_file_is_created_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "faqbot.sqlite3"
    storage = Storage(f"sqlite:///{path}")
    storage.add_crisis_event()
    storage.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # A file left readable by an older version is tightened at start.
    path.chmod(0o644)
    Storage(str(path)).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_votes_and_crisis_counts_expire_with_the_questions(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path / "faqbot.sqlite3"), retention_days=30)
    now = dt.datetime.now(dt.UTC)
    old = now - dt.timedelta(days=31)
    storage.add_feedback("a#1", False, "v1", at=old)
    storage.add_crisis_event(at=old)
    storage.questions.record("do you validate parking", now=old)
    storage.add_feedback("a#1", False, "v1")
    storage.add_crisis_event()
    storage.questions.record("do you validate parking")
    storage.purge()
    assert [(r.answer_id, r.unhelpful) for r in storage.ratings()] == [("a#1", 1)]
    assert sum(storage.crisis_counts().values()) == 1
    assert storage.questions.total() == 1
    storage.close()


def test_a_voter_s_second_vote_replaces_the_first(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path / "faqbot.sqlite3"))
    voter = "0123456789abcdef"
    for helpful in (False, False, False, True):
        storage.add_feedback("a#1", helpful, "v1", voter=voter)
    storage.add_feedback("a#1", False, "v1", voter="fedcba9876543210")
    assert [(r.unhelpful, r.helpful) for r in storage.ratings()] == [(1, 1)]
    assert storage.recent_votes("a#1", 3600) == 2
    storage.close()
