"""Knowledge files: passages are verbatim, ids are stable, drafts stay out, questions attach right."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from bot.content.checks import read_content
from bot.knowledge import Passage, load_knowledge
from bot.settings import PROJECT_ROOT

KNOWLEDGE = PROJECT_ROOT / "knowledge"
MAIN_FILE = "ketamine-therapy.md"
LONG = (
    "This paragraph is long enough to stand as a passage of its own, because it has well over twenty "
    "five words in it, which is the limit the loader uses to merge."
)


def passages(folder: Path) -> list[Passage]:
    knowledge = load_knowledge(folder)
    assert not knowledge.errors, [str(p) for p in knowledge.errors]
    return knowledge.passages


def test_every_passage_is_verbatim_in_its_source_file() -> None:
    found = passages(KNOWLEDGE)
    assert len(found) >= 15
    for passage in found:
        source = (PROJECT_ROOT / passage.path).read_text(encoding="utf-8")
        assert passage.text in source, passage.id
        lines = source.splitlines()
        assert passage.text.startswith(lines[passage.line - 1].strip()), passage.id


def test_passages_carry_id_section_and_title() -> None:
    found = passages(KNOWLEDGE)
    assert len({p.id for p in found}) == len(found)
    by_id = {p.id: p for p in found}
    side_effects = by_id["ketamine-therapy#short-term-side-effects-1"]
    assert side_effects.section == "Short-Term Side Effects"
    assert side_effects.title == "Ketamine Therapy for Mental Health Recovery"
    assert "dizziness, nausea, and confusion" in side_effects.text


def test_the_call_to_action_is_not_a_passage() -> None:
    text = " ".join(p.text for p in passages(KNOWLEDGE))
    assert "666-2441" not in text
    assert "Break free from the chains" not in text


def test_alternate_questions_belong_to_the_passage_above_them_and_are_never_shown() -> None:
    found = passages(KNOWLEDGE)
    lines = (KNOWLEDGE / MAIN_FILE).read_text(encoding="utf-8").splitlines()
    starts = [*sorted(p.line for p in found), len(lines) + 1]
    all_questions = {q for p in found for q in p.questions}
    assert len(all_questions) > 50
    for passage in found:
        assert "<!--" not in passage.text, passage.id
        assert "-->" not in passage.text, passage.id
        next_start = starts[starts.index(passage.line) + 1]
        span = lines[passage.line - 1 : next_start - 1]
        for question in passage.questions:
            assert f"- {question}" in [line.strip() for line in span], (passage.id, question)
            assert question not in passage.text
    side_effects = next(p for p in found if "dizziness, nausea, and confusion" in p.text)
    long_term = next(p for p in found if "bladder problems" in p.text)
    assert side_effects is not long_term
    assert "Can ketamine damage your bladder?" in long_term.questions
    assert "Can ketamine damage your bladder?" not in side_effects.questions
    assert "What are the side effects of ketamine?" in side_effects.questions


def edit_section(path: Path, heading: str, change: Callable[[str], str]) -> None:
    """Apply ``change`` to the body of one section (from its heading to the next heading)."""
    source = path.read_text(encoding="utf-8")
    start = source.index(f" {heading}\n")
    end = source.find("\n#", start)
    end = len(source) if end == -1 else end
    path.write_text(source[:start] + change(source[start:end]) + source[end:], encoding="utf-8")


def test_ids_are_stable_when_another_section_changes(knowledge_copy: Path) -> None:
    before = {p.id: p for p in passages(knowledge_copy)}

    def rewrite(body: str) -> str:
        body = body.replace("frequency of ketamine sessions is reduced", "number of sessions goes down")
        return body + f"\n{LONG}\n"

    edit_section(knowledge_copy / MAIN_FILE, "Maintenance Phase", rewrite)
    after = {p.id: p for p in passages(knowledge_copy)}
    edited = {i for i, p in (after | before).items() if p.section == "Maintenance Phase"}
    assert len(after) == len(before) + 1
    assert any("number of sessions goes down" in after[i].text for i in edited)
    for passage_id, passage in before.items():
        if passage_id not in edited:
            assert after[passage_id].text == passage.text
            assert after[passage_id].section == passage.section


def test_a_new_section_does_not_renumber_the_others(knowledge_copy: Path) -> None:
    before = {p.id: p.text for p in passages(knowledge_copy)}
    edit_section(knowledge_copy / MAIN_FILE, "Key Takeaways", lambda body: f"{body}\n## Brand New Section\n\n{LONG}\n")
    after = {p.id: p.text for p in passages(knowledge_copy)}
    assert set(after) - set(before) == {"ketamine-therapy#brand-new-section-1"}
    assert all(after[i] == text for i, text in before.items())


def test_drafts_are_read_and_checked_but_not_indexed(knowledge_copy: Path) -> None:
    source = (knowledge_copy / MAIN_FILE).read_text(encoding="utf-8")
    draft = source.replace("status: approved", "status: draft").replace(
        "## Key Takeaways", f"## Draft Only Section\n\n{LONG}\n\n## Key Takeaways"
    )
    (knowledge_copy / "next-revision.md").write_text(draft, encoding="utf-8")
    content = read_content(knowledge_copy)
    # A draft revision shares most of its passages with the approved file: that is no error.
    assert not content.errors, [str(p) for p in content.errors]
    assert len(content.knowledge.files) == 2
    served = content.knowledge.passages
    assert all(p.path.endswith(MAIN_FILE) for p in served)
    assert not any(p.section == "Draft Only Section" for p in served)


def test_a_comment_ends_a_passage_so_its_text_stays_verbatim(tmp_path: Path) -> None:
    (tmp_path / "doc.md").write_text(
        "---\ntitle: Doc\nstatus: approved\nreviewed_on: 2026-01-05\n---\n\n# One\n\n"
        f"{LONG}\n\n<!-- questions\n- first question?\n-->\n\nShort line after the questions.\n\n"
        f"<!-- an editor's note -->\n\nAnother short line.\n\n"
        f"# Two\n\n{LONG} Two.\n\n\nShort, after two blank lines.\n",
        encoding="utf-8",
    )
    source = (tmp_path / "doc.md").read_text(encoding="utf-8")
    found = passages(tmp_path)
    assert [p.text for p in found] == [
        LONG,
        "Short line after the questions.",
        "Another short line.",
        f"{LONG} Two.\n\n\nShort, after two blank lines.",
    ]
    assert all(p.text in source for p in found)
    assert found[0].questions == ("first question?",)


def test_headings_give_sections_and_their_trail() -> None:
    by_id = {p.id: p for p in passages(KNOWLEDGE)}
    passage = by_id["ketamine-therapy#short-term-side-effects-1"]
    assert passage.headings[-1] == "Side Effects and Risks of Ketamine"
    assert all(re.fullmatch(r"ketamine-therapy#[a-z0-9-]+-\d+", i) for i in by_id)
