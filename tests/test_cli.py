"""The command line through typer's runner. Commands that answer load the real model (~6 s each),
so those tests are few and each checks several things."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner, Result

from bot.cli import app
from bot.content.commands import short_names
from bot.index import MANIFEST_FILE
from bot.knowledge import display_path
from bot.scope import CALIBRATION_FILE
from bot.settings import PROJECT_ROOT

KNOWLEDGE = PROJECT_ROOT / "knowledge"
DEV_EVAL = Path(__file__).parent / "data" / "eval" / "dev.yaml"
SIDE_EFFECTS_QUESTION = "What are the short-term side effects of ketamine?"
LONG = (
    "This paragraph is long enough to stand as a passage of its own, because it has well over twenty "
    "five words in it, which is the limit the loader uses to merge."
)
VALID = f"""---
title: Test document
status: approved
reviewed_on: 2026-01-05
---

# First Section

{LONG}

<!-- questions
- A question?
-->

## Second Section

{LONG} Second.
"""


def run(args: list[str], index_dir: Path, knowledge_dir: Path = KNOWLEDGE, **env: str) -> Result:
    environment = {
        "FAQBOT_INDEX_DIR": str(index_dir),
        "FAQBOT_KNOWLEDGE_DIR": str(knowledge_dir),
        "HF_HUB_OFFLINE": "1",
        **env,
    }
    return CliRunner().invoke(app, args, env=environment)


def assert_clean_error(result: Result, code: int) -> str:
    """A failure is one short message and the right exit code, never a traceback."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.stderr


def knowledge_folder(tmp_path: Path, document: str, synonyms: str | None = None) -> Path:
    """A knowledge folder with one document, optional synonyms, the project's safety files and calibration."""
    folder = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE / "safety", folder / "safety")
    shutil.copyfile(KNOWLEDGE / CALIBRATION_FILE, folder / CALIBRATION_FILE)
    (folder / "doc.md").write_text(document, encoding="utf-8")
    if synonyms is not None:
        (folder / "synonyms.yaml").write_text(synonyms, encoding="utf-8")
    return folder


def test_check_passes_on_the_project_knowledge(tmp_path: Path) -> None:
    result = run(["check"], tmp_path / "index")
    assert result.exit_code == 0, result.output
    last = result.stdout.splitlines()[-1]
    assert last.startswith("ok: 1 file(s), ")
    assert last.endswith(" approved passage(s)")


# (name, what to change in VALID, the line reported, words of the message)
ERRORS = [
    ("missing front matter", lambda t: t.split("---\n", 2)[2], 1, "missing front matter"),
    ("unclosed front matter", lambda t: t.replace("---\n\n# First", "\n# First"), 1, "not closed"),
    ("bad YAML", lambda t: t.replace("status: approved", "status: approved: yes"), 3, "not valid YAML"),
    ("missing title", lambda t: t.replace("title: Test document\n", ""), 1, "lacks 'title'"),
    ("missing status", lambda t: t.replace("status: approved\n", ""), 1, "lacks 'status'"),
    ("missing reviewed_on", lambda t: t.replace("reviewed_on: 2026-01-05\n", ""), 1, "lacks 'reviewed_on'"),
    ("bad status", lambda t: t.replace("status: approved", "status: published"), 3, "status must be"),
    ("bad date", lambda t: t.replace("2026-01-05", "05/01/2026"), 4, "ISO date"),
    ("impossible date", lambda t: t.replace("2026-01-05", "2026-13-45"), 4, "ISO date"),
    ("future date", lambda t: t.replace("2026-01-05", "2999-01-01"), 4, "in the future"),
    ("empty section", lambda t: t.replace("## Second", "## Empty Section\n\n## Second"), 15, "is empty"),
    ("empty last section", lambda t: t + "\n## Last Empty\n", 19, "is empty"),
    ("duplicate passage", lambda t: t.replace(f"{LONG} Second.", LONG), 17, "passage repeats the one at"),
    ("duplicate heading", lambda t: t.replace("## Second Section", "## First Section"), 15, "one on line 7"),
    ("question without dash", lambda t: t.replace("- A question?", "A question?"), 12, "starting with '- '"),
    ("questions block unclosed", lambda t: t.replace("-->\n", ""), 11, "not closed"),
    ("questions on the opening line", lambda t: t.replace("questions\n- A", "questions - A"), 11, "one a line"),
    ("text before any heading", lambda t: t.replace("# First Section\n", "Intro.\n\n# First Section\n"), 7, "before"),
]


@pytest.mark.parametrize(("change", "line", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_check_and_build_report_each_error_as_path_line_message(
    tmp_path: Path, change: object, line: int, message: str
) -> None:
    assert callable(change)
    folder = knowledge_folder(tmp_path, change(VALID))
    where = f"{display_path(folder / 'doc.md')}:{line}: "
    checked = run(["check"], tmp_path / "index", folder)
    errors = assert_clean_error(checked, 1)
    assert any(row.startswith(where) and message in row for row in errors.splitlines()), errors
    assert errors.splitlines()[-1].startswith("error: ")
    built = run(["build"], tmp_path / "index", folder)
    errors = assert_clean_error(built, 1)
    assert any(row.startswith(where) and message in row for row in errors.splitlines()), errors
    assert "nothing was built" in errors
    assert not (tmp_path / "index").exists()


def doc_errors(tmp_path: Path, document: str) -> list[str]:
    """What ``check`` says about doc.md, the lines that name it, with the path left off."""
    folder = knowledge_folder(tmp_path, document)
    errors = assert_clean_error(run(["check", "--no-model"], tmp_path / "index", folder), 1)
    where = display_path(folder / "doc.md") + ":"
    return [row.removeprefix(where) for row in errors.splitlines() if row.startswith(where)]


def test_an_unclosed_questions_block_is_one_error_where_it_opens(tmp_path: Path) -> None:
    # The first block loses its '-->'; Markdown then reads on to the second block's, past a heading.
    document = VALID.replace("- A question?\n-->\n", "- A question?\n") + "\n<!-- questions\n- Another?\n-->\n"
    assert doc_errors(tmp_path, document) == [
        "11: questions block is not closed: end it with a '-->' line after its last question (before line 14)"
    ]
    at_the_end = VALID.replace("- A question?\n-->\n", "- A question?\n\nMore text.\n").split("## Second")[0]
    assert doc_errors(tmp_path / "end", at_the_end) == [
        "11: questions block is not closed: end it with a '-->' line after its last question "
        "(the block runs to the end of the file)"
    ]


@pytest.mark.parametrize(
    ("front", "line", "message"),
    [
        (
            'title: "Test document\nstatus: approved\nreviewed_on: 2026-01-05\nsource: "Clinic leaflet"',
            2,
            "the value of 'title' opens a quote (\") that this line never closes: "
            'end the value with ", or write it without quotes',
        ),
        (
            'title: Test\nstatus: approved\nreviewed_on: 2026-01-05\nsource: "Clinic "best" leaflet"',
            5,
            "the value of 'source' ends at its second quote (\") and more text follows: "
            "write it without the quotes, or put it in single quotes instead",
        ),
        (
            "title: 'Don't drive home'\nstatus: approved\nreviewed_on: 2026-01-05",
            2,
            "the value of 'title' ends at its second quote (') and more text follows: "
            "write it without the quotes, or double the ' inside it ('')",
        ),
    ],
    ids=["never closed", "closed early", "apostrophe"],
)
def test_a_broken_quote_in_the_front_matter_is_named_in_plain_words_where_it_opens(
    tmp_path: Path, front: str, line: int, message: str
) -> None:
    document = "---\n" + front + "\n---\n" + VALID.split("---\n", 2)[2]
    assert doc_errors(tmp_path, document) == [f"{line}: {message}"]


def test_an_approved_file_without_passages_fails_check_and_build(tmp_path: Path) -> None:
    front_matter_only = VALID.split("\n\n# First Section")[0] + "\n"
    folder = knowledge_folder(tmp_path, front_matter_only)
    where = f"{display_path(folder / 'doc.md')}:5: "
    message = "the file is approved but has no passages: write text under a heading, or make it a draft"
    for command in ("check", "build"):
        errors = assert_clean_error(
            run([command, "--no-model"] if command == "check" else [command], tmp_path / "index", folder), 1
        )
        assert errors.splitlines()[0] == where + message, errors
    assert not (tmp_path / "index").exists()
    # A draft may be empty while it is being written: only what would be served must have passages.
    (folder / "next.md").write_text(front_matter_only.replace("status: approved", "status: draft"), encoding="utf-8")
    (folder / "doc.md").write_text(VALID, encoding="utf-8")
    checked = run(["check", "--no-model"], tmp_path / "index", folder)
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.splitlines()[-1] == "ok: 2 file(s), 2 approved passage(s)"


def test_the_valid_document_passes_check(tmp_path: Path) -> None:
    """The base of the error cases is itself valid, so each case fails for its own reason only."""
    result = run(["check"], tmp_path / "index", knowledge_folder(tmp_path, VALID))
    assert result.exit_code == 0, result.output
    assert "ok: 1 file(s), 2 approved passage(s)" in result.stdout


@pytest.mark.parametrize(
    ("synonyms", "line", "message"),
    [
        ("shots: intramuscular injections\nfoo:\n", 2, "lay word: document term"),
        ("shots: intramuscular injections\nbar: [a, {b: c}]\n", 2, "lay word: document term"),
        ("shots: a\nShots: b\n", 2, "listed twice"),
        ("shots: [intramuscular\n", 1, "not valid YAML"),  # where the bracket opens
    ],
    ids=["no value", "nested value", "repeated", "bad YAML"],
)
def test_check_reports_malformed_synonyms(tmp_path: Path, synonyms: str, line: int, message: str) -> None:
    folder = knowledge_folder(tmp_path, VALID, synonyms)
    result = run(["check"], tmp_path / "index", folder)
    errors = assert_clean_error(result, 1)
    where = f"{display_path(folder / 'synonyms.yaml')}:{line}: "
    assert any(row.startswith(where) and message in row for row in errors.splitlines()), errors


def test_warnings_do_not_fail_check(tmp_path: Path) -> None:
    document = VALID.replace("reviewed_on:", "owner: content team\nreviewed_on:")
    result = run(["check"], tmp_path / "index", knowledge_folder(tmp_path, document))
    assert result.exit_code == 0, result.output
    assert "warning: unknown front matter field 'owner'" in result.output


WORDY = " ".join(["This sentence pads the passage out well past the length an editor is warned about."] * 12)
WARNED = (
    VALID.replace("reviewed_on:", "owner: content team\nreviewed_on:")
    .replace(f"{LONG}\n\n<!--", f"{WORDY}\n\n<!--")
    .replace(f"{LONG} Second.", f"{WORDY} Second.")
)


def test_check_counts_warnings_by_kind_and_lists_them_fewest_first(tmp_path: Path) -> None:
    folder = knowledge_folder(tmp_path, WARNED)
    doc = display_path(folder / "doc.md")
    result = run(["check", "--no-model"], tmp_path / "index", folder)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # The test folder's scope calibration was fitted on the project's content: a third kind.
    assert lines[0] == (
        "4 warnings (they do not fail the check): 1 unknown front matter field, "
        "1 scope calibration fitted on other content, 2 long passages"
    )
    calibration = display_path(folder / CALIBRATION_FILE)
    assert lines[1:] == [
        "",
        "1 unknown front matter field:",
        f"{doc}:4: warning: unknown front matter field 'owner'",
        "",
        "1 scope calibration fitted on other content:",
        f"{calibration}:1: warning: the scope calibration was fitted on other content: run 'faqbot calibrate' and "
        "review it",
        "",
        "2 long passages:",
        f"{doc}:10: warning: passage has 180 words (over 150)",
        f"{doc}:18: warning: passage has 181 words (over 150)",
        "",
        "ok: 1 file(s), 2 approved passage(s)",
    ]
    brief = run(["check", "--no-model", "--brief"], tmp_path / "index", folder)
    assert brief.stdout.splitlines() == [lines[0], lines[-1]]


def test_an_error_comes_before_the_warnings_an_editor_has_seen(tmp_path: Path) -> None:
    folder = knowledge_folder(tmp_path, WARNED.replace("status: approved", "status: publshed"))
    result = run(["check", "--no-model"], tmp_path / "index", folder)
    assert_clean_error(result, 1)
    lines = result.output.splitlines()
    assert lines[0] == f"{display_path(folder / 'doc.md')}:3: status must be 'approved' or 'draft', not 'publshed'"
    assert lines[1].startswith("4 warnings (they do not fail the check): ")
    assert lines[-1] == "error: 1 error(s); nothing can be built until they are fixed"


def test_ask_json_returns_the_side_effects_passage_verbatim_like_the_api(index_dir: Path, client: httpx.Client) -> None:
    result = run(["ask", SIDE_EFFECTS_QUESTION, "--json"], index_dir)
    assert result.exit_code == 0, result.output
    reply = json.loads(result.stdout)
    source = (KNOWLEDGE / "ketamine-therapy.md").read_text(encoding="utf-8")
    assert reply["matched"] is True
    assert reply["crisis"] is False
    assert reply["notice"] is None
    assert "consult your doctor" in reply["disclaimer"]
    assert 1 <= len(reply["answers"]) <= 3
    texts = [a["text"] for a in reply["answers"]]
    assert any("dizziness, nausea, and confusion" in t for t in texts)
    assert all(t in source for t in texts)
    # The same JSON as POST /api/chat. The command answers through ONNX Runtime and this test server
    # through torch, whose vectors differ in the seventh decimal, so a score may round either way.
    served = client.post("/api/chat", json={"message": SIDE_EFFECTS_QUESTION}).json()
    scores = [a.pop("score") for a in reply["answers"]]
    assert scores == pytest.approx([a.pop("score") for a in served["answers"]], abs=1e-5)
    assert reply == served


def test_search_lists_k_ranked_passages(index_dir: Path) -> None:
    result = run(["search", "bladder problems from long-term use", "-k", "3"], index_dir)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    ranked = [line for line in lines if line[:3].strip().rstrip(".").isdigit()]
    assert [line.split(".")[0].strip() for line in ranked] == ["1", "2", "3"]
    scores = [float(line.split()[1]) for line in ranked]
    assert scores == sorted(scores, reverse=True)
    assert "ketamine-therapy#long-term-side-effects" in ranked[0]
    version = json.loads((index_dir / MANIFEST_FILE).read_text())["index_version"]
    assert lines[-1] == f"index {version}"


def test_eval_prints_the_figures_on_the_dev_set(index_dir: Path) -> None:
    result = run(["eval", str(DEV_EVAL)], index_dir)
    assert result.exit_code == 0, result.output
    figures = {}
    for line in result.stdout.splitlines():
        name, _, value = line.rpartition(" ")
        try:
            figures[name.strip()] = float(value)
        except ValueError:
            continue
    for name in (
        "recall@1",
        "recall@3",
        "mrr@10",
        "in_scope answered",
        "off_topic refused",
        "not_covered refused",
        "crisis recall",
        "crisis false alarms",
    ):
        assert 0.0 <= figures[name] <= 1.0, name
    assert figures["recall@1"] <= figures["recall@3"]
    assert "counts: in_scope " in result.stdout
    assert "misses: " in result.stdout


def test_eval_json_computes_the_figures_exactly(index_dir: Path, tmp_path: Path) -> None:
    eval_file = tmp_path / "eval.yaml"
    eval_file.write_text(
        "in_scope:\n"
        "  - q: What is ketamine therapy?\n"
        "    gold: [Ketamine]\n"  # in almost every passage: rank 1
        "  - q: What are the side effects?\n"
        "    gold: [a phrase found in no passage at all]\n"  # never found: a miss
        "crisis:\n"
        "  - I want to kill myself tonight\n"
        "not_crisis:\n"
        "  - This form is killing me, how long is an infusion?\n",
        encoding="utf-8",
    )
    result = run(["eval", str(eval_file), "--json"], index_dir)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {k: report["counts"][k] for k in ("in_scope", "crisis", "not_crisis")} == {
        "in_scope": 2,
        "crisis": 1,
        "not_crisis": 1,
    }
    assert report["figures"]["recall@1"] == 0.5
    assert report["figures"]["recall@3"] == 0.5
    assert report["figures"]["mrr@10"] == 0.5
    assert report["figures"]["crisis recall"] == 1.0
    assert report["figures"]["crisis false alarms"] == 0.0
    misses = [m for m in report["misses"] if m["kind"] == "in_scope"]
    assert [m["question"] for m in misses] == ["What are the side effects?"]
    assert misses[0]["got"].startswith("rank >10")


def test_eval_of_a_folder_prints_a_row_per_file_and_a_total(index_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "sets"
    folder.mkdir()
    (folder / "assistant.yaml").write_text("off_topic: [order a pizza for tonight, how tall is Mount Everest]\n")
    (folder / "mixed.yaml").write_text(
        "off_topic: [what time is it in Tokyo]\ncrisis: [I want to kill myself tonight]\n", encoding="utf-8"
    )
    result = run(["eval", str(folder)], index_dir)
    assert result.exit_code == 0, result.output
    header, *lines = result.stdout.splitlines()
    rows = {line.split()[0]: line for line in lines}
    assert list(rows) == ["assistant.yaml", "mixed.yaml", "total"]

    def cell(row: str, column: str) -> str:
        """The figure under a column heading ("-" where a file has no such list)."""
        end = header.index(column) + len(column)
        return rows[row][end - 16 : end].strip()

    assert cell("assistant.yaml", "off-topic ref.") == "1.000 (2)"
    assert cell("total", "off-topic ref.") == "1.000 (3)"
    assert cell("total", "crisis recall") == "1.000 (1)"
    assert cell("assistant.yaml", "crisis recall") == "-"


def test_files_of_the_same_name_keep_a_row_each() -> None:
    paths = [Path("tests/data/eval/dev.yaml"), Path("../shared/eval/dev.yaml"), Path("a/scope.yaml")]
    assert short_names(paths) == ["data/eval/dev.yaml", "shared/eval/dev.yaml", "a/scope.yaml"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("in_scope:\n  - q: How?\n    gold: not a list\n", "bad 'in_scope' item"),
        ("off_topic: just a string\n", "'off_topic' must be a list"),
        ("in_scope: [\n", "cannot read"),
        ("- a\n- b\n", "must be a mapping"),
    ],
    ids=["gold not a list", "not a list", "bad YAML", "not a mapping"],
)
def test_eval_refuses_a_malformed_file_clearly(tmp_path: Path, content: str, message: str) -> None:
    eval_file = tmp_path / "eval.yaml"
    eval_file.write_text(content, encoding="utf-8")
    errors = assert_clean_error(run(["eval", str(eval_file)], tmp_path / "no-index"), 2)
    assert errors.startswith("error: ")
    assert message in errors
    assert str(eval_file) in errors


def test_eval_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    errors = assert_clean_error(run(["eval", str(tmp_path / "nope.yaml")], tmp_path / "index"), 2)
    assert errors.startswith("error: ")
    assert "nope.yaml" in errors


@pytest.mark.parametrize(
    "args", [["ask", "What is ketamine?"], ["search", "ketamine"], ["eval", str(DEV_EVAL)], ["serve"]]
)
def test_a_missing_index_is_one_line_without_traceback(tmp_path: Path, args: list[str]) -> None:
    errors = assert_clean_error(run(args, tmp_path / "missing"), 1)
    assert errors.count("\n") == 1
    assert errors.startswith("error: no index at ")
    assert "faqbot build" in errors


def test_an_index_built_for_another_model_is_refused_before_loading_it(index_dir: Path) -> None:
    errors = assert_clean_error(run(["ask", "What is ketamine?"], index_dir, FAQBOT_MODEL="another-model"), 1)
    assert errors.count("\n") == 1
    assert "another-model" in errors
    assert "rebuild" in errors


@pytest.mark.parametrize(
    "args",
    [
        ["ask", "What is ketamine?", "--bogus"],
        ["search", "ketamine", "-k", "0"],
        ["search", "ketamine", "-k", "51"],
        ["search", "ketamine", "-k", "many"],
        ["serve", "--port", "0"],
        ["nonsense"],
    ],
)
def test_a_bad_flag_exits_2_without_traceback(tmp_path: Path, args: list[str]) -> None:
    errors = assert_clean_error(run(args, tmp_path / "index"), 2)
    assert "Usage:" in errors or "error" in errors.casefold()


@pytest.mark.parametrize("question", ["", "   ", "x" * 501])
def test_a_bad_question_exits_2(tmp_path: Path, question: str) -> None:
    errors = assert_clean_error(run(["ask", question], tmp_path / "index"), 2)
    assert errors.startswith("error: question ")


def test_build_if_stale_skips_a_current_index_and_rebuilds_a_stale_one(
    index_dir: Path, knowledge_copy: Path, tmp_path: Path
) -> None:
    target = tmp_path / "index"
    shutil.copytree(index_dir, target)
    before = (target / MANIFEST_FILE).read_text()

    current = run(["build", "--if-stale"], target, knowledge_copy)
    assert current.exit_code == 0, current.output
    assert current.stdout.strip() == f"index {json.loads(before)['index_version']} is up to date"
    assert (target / MANIFEST_FILE).read_text() == before

    document = knowledge_copy / "ketamine-therapy.md"
    document.write_text(
        document.read_text(encoding="utf-8").replace("bladder problems", "kidney and bladder problems"),
        encoding="utf-8",
    )
    stale = run(["build", "--if-stale"], target, knowledge_copy)
    assert stale.exit_code == 0, stale.output
    manifest = json.loads((target / MANIFEST_FILE).read_text())
    assert manifest["index_version"] != json.loads(before)["index_version"]
    assert f"built index {manifest['index_version']}" in stale.stdout
    passages = (target / "passages.json").read_text(encoding="utf-8")
    assert "kidney and bladder problems" in passages

    again = run(["build", "--if-stale"], target, knowledge_copy)
    assert again.stdout.strip() == f"index {manifest['index_version']} is up to date"


def test_every_command_the_editor_section_names_exists() -> None:
    """An editor follows the README's section to the letter: each `make X` is a target of the Makefile
    and each `faqbot X` a command, so none of them answers 'command not found' or 'No rule'."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## For the content team", 1)[1].split("\n## ", 1)[0]
    targets = set(re.findall(r"^([a-z-]+):", (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8"), re.M))
    named = set(re.findall(r"(?:^|`)make ([a-z-]+)", section, re.M))
    assert {"check", "build", "release"} <= named
    assert named <= targets, named - targets
    commands = {c.name for c in typer.main.get_command(app).commands.values()}  # type: ignore[attr-defined]
    verbs = set(re.findall(r"(?:^|`|/)faqbot ([a-z-]+)", section, re.M))
    assert {"check", "build", "reload", "diff"} <= verbs
    assert verbs <= commands, verbs - commands
