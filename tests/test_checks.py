"""The content team's folder read and checked as a whole: knowledge, synonyms, out-of-scope list, crisis
lists and scope calibration, before anything is built."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.content.checks import ContentError, build_from, read_content
from bot.embedding import SentenceTransformerEmbedder
from bot.index import MANIFEST_FILE
from bot.safety import SAFETY_FOLDER
from bot.scope import CALIBRATION_FILE


def test_the_project_folder_reads_without_errors_and_ships_its_lists_in_the_index(knowledge_copy: Path) -> None:
    content = read_content(knowledge_copy)
    assert content.errors == []
    assert content.knowledge.passages
    assert CALIBRATION_FILE in content.release_files
    shipped = {name for name in content.release_files if name.startswith(f"{SAFETY_FOLDER}/")}
    assert shipped == {f"{SAFETY_FOLDER}/{p.name}" for p in (knowledge_copy / SAFETY_FOLDER).glob("*.yaml")}


def test_a_broken_synonyms_list_is_an_error_on_its_line_and_nothing_is_built(
    knowledge_copy: Path, tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    (knowledge_copy / "synonyms.yaml").write_text("ketamine: [esketamine\n", encoding="utf-8")
    content = read_content(knowledge_copy)
    (problem,) = [p for p in content.errors if p.path.endswith("synonyms.yaml")]
    assert problem.line == 1
    with pytest.raises(ContentError):
        build_from(content, tmp_path / "index", embedder)
    assert not (tmp_path / "index" / MANIFEST_FILE).exists()


def test_a_file_not_reviewed_for_longer_than_allowed_is_a_warning_not_an_error(knowledge_copy: Path) -> None:
    content = read_content(knowledge_copy, today=dt.date(2040, 1, 1), stale_after_days=365)
    stale = [p for p in content.problems if p.kind == "stale"]
    assert len(stale) == 1
    assert stale[0].severity == "warning"
    assert "review the file" in stale[0].message
    assert content.errors == []


def test_new_content_warns_that_the_scope_calibration_was_fitted_on_other_content(knowledge_copy: Path) -> None:
    knowledge = knowledge_copy / "ketamine-therapy.md"
    knowledge.write_text(knowledge.read_text(encoding="utf-8").replace("dizziness", "dizzyness"), encoding="utf-8")
    content = read_content(knowledge_copy)
    (warning,) = [p for p in content.problems if p.kind == "calibration"]
    assert warning.severity == "warning"
    assert "faqbot calibrate" in warning.message
    assert Path(warning.path).name == CALIBRATION_FILE
