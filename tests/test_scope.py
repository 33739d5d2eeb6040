"""The scope decision: what the knowledge answers is answered, what it does not is refused, and the
calibration that decides it is a reviewed file that travels in the index."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import KNOWLEDGE
from typer.testing import CliRunner

from bot.assistant import Assistant
from bot.cli import app
from bot.content.checks import read_content
from bot.index import read_manifest
from bot.scope import CALIBRATION_FILE, ScopeModel, ScopeSignals, read_calibration


def signals(**changes: float) -> ScopeSignals:
    values = {
        "best_score": 0.6,
        "lexical": 0.4,
        "known": 0.7,
        "unknown": 0.3,
        "foreign_words": 0.0,
        "rarest_foreign": 0.0,
        "covered_by_best": 1.0,
    }
    return ScopeSignals(**{**values, **changes})


MODEL = ScopeModel((4.0, 2.0, 6.0, -5.0, -1.5, -1.0, 0.0), -3.0, 0.3, 0.22, 0.3, 0.1)


def test_the_model_answers_a_close_question_and_refuses_foreign_words() -> None:
    assert MODEL.covered(signals())
    assert not MODEL.covered(signals(foreign_words=1.1, rarest_foreign=4.8))


def test_no_evidence_for_the_knowledge_is_refused_whatever_the_weights_say() -> None:
    # A question with no words of substance has nothing foreign in it; the floors still refuse it.
    hollow = ScopeModel((0.0,) * 7, 10.0, 0.5, 0.22, 0.3, 0.1)
    assert hollow.covered(signals())
    assert not hollow.covered(signals(best_score=0.15))
    assert not hollow.covered(signals(known=0.2))
    assert not hollow.covered(signals(unknown=0.8))  # closer to an out-of-scope example


@pytest.mark.parametrize(
    "question",
    [
        "How often can I take aspirin for a headache?",
        "what is hydrocodone prescribed for",
        "remind me to pick up the dry cleaning",
        "what's a good name for a new puppy",
        "How much is one infusion without insurance?",
        "my husband and I argue about money, how do we stop",
    ],
)
def test_questions_the_document_does_not_answer_are_refused(assistant: Assistant, question: str) -> None:
    reply = assistant.chat(question)
    assert not reply.matched, reply.answers[0].passage.section if reply.answers else ""
    assert reply.answers == ()


@pytest.mark.parametrize(
    "question",
    [
        "Can ketamine make me feel sick to my stomach?",
        "how does the nasal spray version work",
        "Is ketamine habit forming?",
        "will it help my PTSD",
    ],
)
def test_questions_the_document_answers_are_answered(assistant: Assistant, question: str) -> None:
    assert assistant.chat(question).matched


@pytest.mark.parametrize("question", ["what is the address of your office", "how do I reach the clinic by phone"])
def test_a_question_about_the_clinic_gets_its_contact_details(assistant: Assistant, question: str) -> None:
    reply = assistant.chat(question)
    assert not reply.matched
    assert reply.notice is not None
    assert assistant.settings.contact_phone in reply.notice
    assert "don't have a vetted answer" not in reply.notice


def test_the_project_calibration_is_valid_and_fitted_on_this_knowledge() -> None:
    model, problems = read_calibration(KNOWLEDGE / CALIBRATION_FILE)
    assert problems == []
    assert model is not None
    assert 0 < model.threshold < 1
    content = read_content(KNOWLEDGE)
    assert not [p for p in content.problems if CALIBRATION_FILE in p.path], "run 'faqbot calibrate'"


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (("threshold: 0.", "threshold: 7."), "threshold:", "threshold must be a number from 0 to 1"),
        (("  lexical:", "  lexicon:"), "lexicon:", "unknown signal 'lexicon'"),
        (("bias: ", "bias: x"), "bias:", "bias must be a number"),
    ],
    ids=["threshold out of range", "misspelt signal", "bias not a number"],
)
def test_a_broken_calibration_is_refused_on_its_line(
    tmp_path: Path, change: tuple[str, str], line: str, message: str
) -> None:
    folder = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, folder)
    path = folder / CALIBRATION_FILE
    path.write_text(path.read_text(encoding="utf-8").replace(*change, 1), encoding="utf-8")
    lines = path.read_text(encoding="utf-8").splitlines()
    number = next(n for n, text in enumerate(lines, 1) if text.strip().startswith(line))
    errors = [p for p in read_content(folder).problems if p.severity == "error"]
    assert errors, "a broken calibration must stop the build"
    assert all(p.path.endswith(CALIBRATION_FILE) for p in errors)
    assert any(p.line == number and message in p.message for p in errors), [str(p) for p in errors]


def run(args: list[str], knowledge: Path, index: Path) -> str:
    result = CliRunner().invoke(
        app, args, env={"FAQBOT_KNOWLEDGE_DIR": str(knowledge), "FAQBOT_INDEX_DIR": str(index), "HF_HUB_OFFLINE": "1"}
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_index_carries_the_calibration_and_crisis_lists_and_its_version_covers_them(
    tmp_path: Path, index_dir: Path
) -> None:
    folder = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, folder)
    built = read_manifest(index_dir)
    assert CALIBRATION_FILE in built.files
    assert any(name.startswith("safety/") for name in built.files)

    calibration = folder / CALIBRATION_FILE
    calibration.write_text(calibration.read_text(encoding="utf-8").replace("threshold: 0.", "threshold: 0.9"))
    run(["build"], folder, tmp_path / "index")
    stricter = read_manifest(tmp_path / "index")
    assert stricter.index_version != built.index_version
    assert (tmp_path / "index" / CALIBRATION_FILE).read_bytes() == calibration.read_bytes()

    calm = folder / "safety" / "not-crisis-examples.yaml"
    calm.write_text(calm.read_text(encoding="utf-8") + "\n- I am looking forward to my next appointment.\n")
    run(["build"], folder, tmp_path / "index")
    assert read_manifest(tmp_path / "index").index_version != stricter.index_version


def test_calibrate_fits_and_writes_a_file_the_build_accepts(tmp_path: Path) -> None:
    folder = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, folder)
    (folder / CALIBRATION_FILE).unlink()
    labelled = tmp_path / "labelled.yaml"
    labelled.write_text(
        "in_scope:\n"
        + "".join(
            f"  - q: {q}\n    gold: [x]\n"
            for q in ("What is ketamine?", "Is ketamine addictive?", "side effects of ketamine", "nasal spray")
        )
        + "off_topic: [what time is it in Tokyo, order a pizza, how tall is Mount Everest]\n"
        + "not_covered: [does my insurance pay for infusions, what is acetaminophen]\n",
        encoding="utf-8",
    )
    output = run(["calibrate", str(labelled), "--keep", "1.0"], folder, tmp_path / "index")
    assert "labelled.yaml:in_scope: 4 questions, answered 1.000" in output
    model, problems = read_calibration(folder / CALIBRATION_FILE)
    assert problems == []
    assert model is not None
    run(["build"], folder, tmp_path / "index")
