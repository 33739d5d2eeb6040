"""The content team's report: what visitors missed, what they found unhelpful, and which files need review."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

from conftest import KNOWLEDGE, make_settings

from bot.content.report import make_report, opening
from bot.index import Manifest, read_passages
from bot.knowledge import Passage
from bot.settings import Settings
from bot.storage import Storage

TODAY = dt.date(2030, 1, 1)  # years after the knowledge file was last reviewed


def report_for(
    tmp_path: Path, index_dir: Path, **settings: object
) -> tuple[Settings, Storage, Manifest, tuple[Passage, ...]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    chosen = make_settings(tmp_path, index_dir, KNOWLEDGE, **settings)
    storage = Storage(chosen.database, chosen.log_questions, chosen.question_retention_days)
    manifest, passages = read_passages(index_dir)
    return chosen, storage, manifest, passages


def test_the_report_counts_votes_by_passage_with_its_section_and_opening_words(tmp_path: Path, index_dir: Path) -> None:
    settings, storage, manifest, passages = report_for(tmp_path, index_dir)
    first, second = passages[0], passages[1]
    storage.add_feedback(first.id, False, manifest.index_version, voter="a" * 16)
    storage.add_feedback(first.id, False, manifest.index_version, voter="b" * 16)
    storage.add_feedback(first.id, True, manifest.index_version, voter="c" * 16)
    storage.add_feedback(second.id, True, manifest.index_version)
    storage.add_feedback("gone#passage-1", False, manifest.index_version)
    storage.questions.record_unhelpful(first.id, "is it safe for me, my number is 555-123-4567")

    report = make_report(settings, storage, storage.questions, manifest, passages, TODAY)
    by_id = {a.answer_id: a for a in report.unhelpful}
    assert (by_id[first.id].unhelpful, by_id[first.id].helpful) == (2, 1)
    assert by_id[first.id].section == first.section
    assert by_id[first.id].opening == opening(first.text)
    assert [g.text for g in by_id[first.id].questions] == ["is it safe for me, my number is [phone]"]
    assert by_id["gone#passage-1"].section == "(not in this index)"
    storage.close()


def test_unanswered_questions_are_grouped_redacted_and_crisis_days_counted(tmp_path: Path, index_dir: Path) -> None:
    settings, storage, manifest, passages = report_for(tmp_path, index_dir)
    storage.questions.record("do you validate parking")
    storage.questions.record("Do you validate parking? My name is Jane Doe")
    storage.add_crisis_event()
    storage.add_crisis_event()

    report = make_report(settings, storage, storage.questions, manifest, passages, TODAY)
    parking = next(g for g in report.unanswered if "parking" in g.text.casefold())
    assert parking.count == 2
    assert "Jane" not in parking.text
    assert sum(count for _, count in report.crisis) == 2
    assert report.index is not None
    assert report.index.version == manifest.index_version
    storage.close()


def test_a_file_not_reviewed_within_the_setting_is_flagged_stale(tmp_path: Path, index_dir: Path) -> None:
    for days, stale in ((1, True), (3650, False)):
        settings, storage, manifest, passages = report_for(tmp_path / str(days), index_dir, stale_after_days=days)
        report = make_report(settings, storage, storage.questions, manifest, passages, TODAY)
        (file,) = report.files
        assert Path(file.path).name == "ketamine-therapy.md"
        assert (file.status, file.stale) == ("approved", stale)
        assert file.passages == len(passages)
        storage.close()


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_quoted(tmp_path: Path, index_dir: Path) -> None:
    settings, storage, manifest, passages = report_for(tmp_path, index_dir)
    storage.questions.record('=HYPERLINK("http://x") is parking free')
    report = make_report(settings, storage, storage.questions, manifest, passages, TODAY)
    rows = list(csv.reader(io.StringIO(report.csv("unanswered"))))
    assert rows[0] == ["question", "count", "first_seen", "last_seen"]
    assert rows[1][0].startswith("'=")
    storage.close()
