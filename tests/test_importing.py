"""faqbot import: a web page, a Word file, a PDF, FAQ sheets and plain text, each built from the project's
own knowledge file, come back as a draft with every paragraph word for word, every heading in order, no
navigation or footer text in any passage, the call to action flagged, and nothing served until approved."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, make_settings
from importing_sources import (
    CALL_TO_ACTION,
    FOOTER,
    KNOWLEDGE_FILE,
    NAVIGATION,
    PHONE,
    RUNNING_HEADER,
    Section,
    knowledge_sections,
    write_csv,
    write_docx,
    write_html,
    write_pdf,
    write_text,
)
from typer.testing import CliRunner, Result

from bot.cli import app
from bot.content.checks import build
from bot.embedding import SentenceTransformerEmbedder
from bot.index import PASSAGES_FILE, passage_from_dict
from bot.knowledge import FLAGGED_OPEN, Passage, read_file, slugify
from bot.settings import PROJECT_ROOT

SECTIONS = knowledge_sections()
SEED = PROJECT_ROOT.parent / "shared" / "seed" / "ketamine-therapy.txt"
NOT_CONTENT = [*NAVIGATION, *FOOTER, RUNNING_HEADER, PHONE]
WRITERS: dict[str, Callable[[Path, list[Section]], Path]] = {
    "page.html": write_html,
    "leaflet.docx": write_docx,
    "leaflet.pdf": write_pdf,
    "article.txt": write_text,
}


def run_import(source: Path, out: Path) -> Result:
    return CliRunner().invoke(app, ["import", str(source), "--out", str(out)], env={"HF_HUB_OFFLINE": "1"})


def passages(path: Path) -> list[Passage]:
    knowledge, problems = read_file(path, path.name, dt.date.today())
    assert knowledge is not None, problems
    return list(knowledge.passages)


def headings(path: Path) -> list[tuple[int, str]]:
    found = re.findall(r"^(#{1,6}) (.+)$", path.read_text(encoding="utf-8"), re.M)
    return [(len(marks), text) for marks, text in found]


def chunks_by_section(found: list[Passage]) -> dict[str, list[str]]:
    chunks: dict[str, list[str]] = {}
    for passage in found:
        chunks.setdefault(passage.section, []).extend(passage.text.split("\n\n"))
    return chunks


def faq_rows() -> list[tuple[str, str, str]]:
    """(section, question, answer): each passage of the knowledge file that has alternate questions, under
    its first one."""
    rows = [(p.section, p.questions[0], p.text) for p in passages(KNOWLEDGE_FILE) if p.questions]
    assert len(rows) > 10
    return rows


@pytest.mark.parametrize("name", list(WRITERS))
def test_an_imported_document_keeps_every_paragraph_and_heading_and_drops_what_surrounds_it(
    tmp_path: Path, name: str
) -> None:
    source = WRITERS[name](tmp_path / name, SECTIONS)
    out = tmp_path / "knowledge"
    out.mkdir()
    result = run_import(source, out)
    assert result.exit_code == 0, result.output
    draft = out / f"{source.stem}.md"
    assert result.stdout.splitlines()[0].endswith(draft.name)
    text = draft.read_text(encoding="utf-8")
    assert "\nstatus: draft\n" in text
    assert f"\nsource: {name}\n" in text
    assert "reviewed_on" not in text

    found = passages(draft)
    # Every paragraph and list, word for word, under its own heading, in order.
    assert chunks_by_section(found) == {s.heading: s.chunks for s in SECTIONS}
    if name.endswith(".txt"):  # plain text has no heading levels: the title, then the rest
        assert headings(draft) == [(1, SECTIONS[0].heading)] + [(2, s.heading) for s in SECTIONS[1:]]
    else:
        assert headings(draft) == [(s.level, s.heading) for s in SECTIONS]
    for passage in found:
        assert not [t for t in NOT_CONTENT if t in passage.text], passage.id
    # The call to action is kept for the editor, flagged, and out of every passage.
    assert f"{CALL_TO_ACTION}\n-->" in text
    assert FLAGGED_OPEN in text
    if name.endswith(".html"):  # the page's navigation, banner, scripts and footer are not in the draft at all
        assert not [t for t in [*NAVIGATION, *FOOTER] if t in text]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".xlsx"])
def test_an_faq_sheet_gives_each_answer_as_a_passage_with_its_question_first(tmp_path: Path, suffix: str) -> None:
    rows = faq_rows()
    source = tmp_path / f"faq{suffix}"
    if suffix == ".csv":
        write_csv(source, rows)
    elif suffix == ".tsv":
        lines = ["Section\tQuestion\tAnswer", *(f'{s}\t{q}\t"{a}"' for s, q, a in rows)]
        source.write_text("\n".join(lines), encoding="utf-8")
    else:
        import openpyxl

        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["Section", "Question", "Answer"])
        for row in rows:
            sheet.append(list(row))
        book.save(source)
    out = tmp_path / "out"
    out.mkdir()
    result = run_import(source, out)
    assert result.exit_code == 0, result.output
    found = passages(out / "faq.md")
    assert [(p.section, p.questions[:1], p.text) for p in found] == [(q, (q,), a) for _, q, a in rows]
    expected: list[tuple[int, str]] = [(1, "Faq")]
    for section, question, _ in rows:
        if (2, section) not in expected:
            expected.append((2, section))
        expected.append((3, question))
    assert headings(out / "faq.md") == expected


def test_an_html_faq_of_definition_pairs_gives_question_headings(tmp_path: Path) -> None:
    rows = faq_rows()[:4]
    pairs = "".join(f"<dt>{q}</dt><dd>{a.split(chr(10))[0]}</dd>" for _, q, a in rows)
    page = f"<html><body><nav><a href='/'>{NAVIGATION[0]}</a></nav><main><h1>Questions</h1><dl>{pairs}</dl></main>"
    source = tmp_path / "questions.html"
    source.write_text(page + f"<footer>{FOOTER[0]}</footer></body></html>", encoding="utf-8")
    result = run_import(source, tmp_path)
    assert result.exit_code == 0, result.output
    found = passages(tmp_path / "questions.md")
    assert [(p.section, p.questions, p.text) for p in found] == [(q, (q,), a.split("\n")[0]) for _, q, a in rows]


def approve(draft: Path) -> None:
    text = draft.read_text(encoding="utf-8")
    draft.write_text(text.replace("status: draft", "status: approved\nreviewed_on: 2026-11-30"), encoding="utf-8")


def served(knowledge: Path, index: Path, embedder: SentenceTransformerEmbedder) -> list[Passage]:
    build(knowledge, index, embedder)
    records = json.loads((index / PASSAGES_FILE).read_text(encoding="utf-8"))["passages"]
    return [passage_from_dict(record) for record in records]


def test_check_passes_the_drafts_and_nothing_is_served_until_approved(
    tmp_path: Path, knowledge_copy: Path, embedder: SentenceTransformerEmbedder
) -> None:
    for name, write in WRITERS.items():
        assert run_import(write(tmp_path / name, SECTIONS), knowledge_copy).exit_code == 0
    assert run_import(write_csv(tmp_path / "faq.csv", faq_rows()), knowledge_copy).exit_code == 0
    env = {"FAQBOT_KNOWLEDGE_DIR": str(knowledge_copy), "FAQBOT_INDEX_DIR": str(tmp_path / "index")}
    # The checks that need the model only ever add warnings (alternate phrasings), never errors.
    check = CliRunner().invoke(app, ["check", "--no-model"], env=env)
    assert check.exit_code == 0, check.output
    assert check.stdout.splitlines()[-1] == "ok: 6 file(s), 22 approved passage(s)"
    assert "lines flagged as not medical information:" in check.stdout

    # Only what is approved is built: the FAQ sheet's draft once approved, none of the four other drafts.
    # (The approved file and the out-of-scope list go, to keep the builds small.)
    (knowledge_copy / "ketamine-therapy.md").unlink()
    (knowledge_copy / "out-of-scope.yaml").unlink()
    approve(knowledge_copy / "faq.md")
    assert {p.id.split("#")[0] for p in served(knowledge_copy, tmp_path / "faq-index", embedder)} == {"faq"}

    # An approved draft needs its review date; then its passages are served, word for word.
    (knowledge_copy / "faq.md").unlink()
    page = knowledge_copy / "page.md"
    page.write_text(page.read_text(encoding="utf-8").replace("status: draft", "status: approved"), encoding="utf-8")
    refused = CliRunner().invoke(app, ["check", "--no-model"], env=env)
    assert refused.exit_code == 1
    assert "page.md:1: front matter lacks 'reviewed_on'" in refused.stderr
    page.write_text(page.read_text(encoding="utf-8").replace("status: approved", "status: draft"), encoding="utf-8")
    approve(page)
    from_page = served(knowledge_copy, tmp_path / "page-index", embedder)
    assert {p.id.split("#")[0] for p in from_page} == {"page"}
    assert chunks_by_section(from_page) == {s.heading: s.chunks for s in SECTIONS}


def test_importing_again_keeps_the_editors_work_and_lists_what_changed(tmp_path: Path) -> None:
    source = write_html(tmp_path / "page.html", SECTIONS)
    out = tmp_path / "knowledge"
    out.mkdir()
    assert run_import(source, out).exit_code == 0
    draft = out / "page.md"
    # The editor ends the first passage after its first paragraph, with a question, and notes who reviews it.
    first = SECTIONS[0].chunks[0]
    edited = draft.read_text(encoding="utf-8").replace(first, f"{first}\n\n<!-- questions\n- What is it?\n-->")
    draft.write_text(edited.replace("status: draft", "status: draft\nreviewed_by: Dr. Example"), encoding="utf-8")

    same = run_import(source, out)
    assert same.exit_code == 0, same.output
    assert "no change against the previous draft" in same.stdout
    assert draft.read_text(encoding="utf-8").count("- What is it?") == 1

    # The page drops the last paragraph of its third section: that passage changed, the rest did not.
    shortened = [Section(s.heading, s.level, s.chunks[:-1] if n == 2 else s.chunks) for n, s in enumerate(SECTIONS)]
    write_html(source, shortened)
    again = run_import(source, out)
    assert again.exit_code == 0, again.output
    lines = again.stdout.splitlines()
    assert "changes against the previous draft:" in lines
    changed = [line for line in lines if line.startswith(("~ ", "+ ", "- "))]
    assert len(changed) == 1
    assert changed[0].startswith(f"~ page#{slugify(SECTIONS[2].heading)}-1")
    assert "(text changed)" in changed[0]
    found = passages(draft)
    assert (found[0].text, found[0].questions) == (first, ("What is it?",))
    assert "reviewed_by: Dr. Example" in draft.read_text(encoding="utf-8")


def test_importing_the_seed_gives_the_passages_of_the_knowledge_file(tmp_path: Path, knowledge_copy: Path) -> None:
    if not SEED.is_file():
        pytest.skip(f"no seed document at {SEED}: the same text is imported from the knowledge file above")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert run_import(SEED, fresh).exit_code == 0
    assert chunks_by_section(passages(fresh / "ketamine-therapy.md")) == {s.heading: s.chunks for s in SECTIONS}
    # Beside the approved file, the draft takes its passage ends, questions and heading levels: the same
    # passages exactly.
    beside = run_import(SEED, knowledge_copy)
    assert beside.exit_code == 0, beside.output
    assert "no change against" in beside.stdout
    draft = passages(knowledge_copy / "ketamine-therapy.draft.md")
    approved = passages(knowledge_copy / "ketamine-therapy.md")
    assert [(p.headings, p.section, p.text, p.questions) for p in draft] == [
        (p.headings, p.section, p.text, p.questions) for p in approved
    ]
    assert headings(knowledge_copy / "ketamine-therapy.draft.md") == [(s.level, s.heading) for s in SECTIONS]


def _encrypted_pdf(path: Path) -> None:
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), encrypt="a password")
    pdf.drawString(72, 720, SECTIONS[0].chunks[0][:60])
    pdf.save()


def _scanned_pdf(path: Path) -> None:
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    pdf.setFillGray(0.4)
    pdf.rect(72, 72, 400, 600, fill=1)  # a page that is a picture of text, not text
    pdf.save()


BAD_INPUT: list[tuple[str, Callable[[Path], object], str]] = [
    ("leaflet.pdf", _encrypted_pdf, "leaflet.pdf is encrypted: save a copy without a password and import that"),
    ("scan.pdf", _scanned_pdf, "scan.pdf: no text layer: run OCR first"),
    ("broken.pdf", lambda p: p.write_bytes(b"%PDF-1.4\nnot really"), "broken.pdf cannot be read as a PDF"),
    ("broken.docx", lambda p: p.write_bytes(b"not a zip"), "broken.docx cannot be read as a Word file"),
    ("empty.html", lambda p: p.write_bytes(b""), "empty.html is empty"),
    ("notes.odt", lambda p: p.write_text("Some text."), "cannot import .odt: give one of "),
    ("faq.csv", lambda p: p.write_text("Topic,Text\nOne,Two.\n"), "faq.csv: the first row must name a 'question'"),
    ("latin.txt", lambda p: p.write_bytes("Caf\xe9 hours".encode("latin-1")), "latin.txt is not UTF-8 text"),
]


@pytest.mark.parametrize(("name", "make", "message"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_gets_one_line_and_writes_nothing(
    tmp_path: Path, name: str, make: Callable[[Path], object], message: str
) -> None:
    source = tmp_path / name
    make(source)
    out = tmp_path / "out"
    out.mkdir()
    result = run_import(source, out)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: {message}"), result.stderr
    assert list(out.iterdir()) == []


def test_a_draft_never_replaces_an_approved_file(tmp_path: Path, knowledge_copy: Path) -> None:
    approved = (knowledge_copy / "ketamine-therapy.md").read_text(encoding="utf-8")
    source = write_text(tmp_path / "ketamine-therapy.txt", SECTIONS)
    result = run_import(source, knowledge_copy)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].endswith("ketamine-therapy.draft.md")
    assert (knowledge_copy / "ketamine-therapy.md").read_text(encoding="utf-8") == approved
    shutil.copyfile(knowledge_copy / "ketamine-therapy.md", knowledge_copy / "ketamine-therapy.draft.md")
    refused = run_import(source, knowledge_copy)
    assert refused.exit_code == 1
    assert "are not drafts imported from ketamine-therapy.txt" in refused.stderr


def test_the_dashboard_lists_drafts_waiting_for_review_with_source_and_opening(
    tmp_path: Path, knowledge_copy: Path, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    assert run_import(write_pdf(tmp_path / "leaflet.pdf", SECTIONS), knowledge_copy).exit_code == 0
    settings = make_settings(tmp_path, index_dir, knowledge_copy, admin_token="drafts-token")
    with (
        LiveServer(settings, embedder) as live,
        httpx.Client(base_url=live.url, headers={"Authorization": "Bearer drafts-token"}, timeout=30) as http,
    ):
        page = http.get("/admin")
        report = http.get("/admin/report").json()
    assert page.status_code == 200
    section = page.text.split('id="drafts-heading"', 1)[1].split("</section>", 1)[0]
    assert "leaflet.md" in section
    assert "From leaflet.pdf: 20 passages" in section
    assert "1 line flagged as not medical information" in section
    opening = " ".join(SECTIONS[0].chunks[0].split()[:24])
    assert html.escape(f"{SECTIONS[0].heading}: {opening} …", quote=False) in section
    assert "ketamine-therapy.md" not in section  # approved: not waiting
    (draft,) = report["drafts"]
    assert (draft["path"].rsplit("/", 1)[-1], draft["source"], draft["passages"]) == ("leaflet.md", "leaflet.pdf", 20)


def test_a_table_is_not_imported_but_marked_where_it_stood(tmp_path: Path) -> None:
    import docx

    first, second = SECTIONS[0], SECTIONS[1]
    cells = ("Phase of treatment", "Sessions in a week")
    word = docx.Document()
    word.add_heading(first.heading, level=0)
    word.add_paragraph(first.chunks[0])
    table = word.add_table(rows=1, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = cells
    word.add_heading(second.heading, level=1)
    word.add_paragraph(second.chunks[0])
    word.save(str(tmp_path / "leaflet.docx"))
    result = run_import(tmp_path / "leaflet.docx", tmp_path)
    assert result.exit_code == 0, result.output
    assert "1 table(s) left out, each marked by a note" in result.stdout
    text = (tmp_path / "leaflet.md").read_text(encoding="utf-8")
    assert f"{first.chunks[0]}\n\n<!-- a table stood here: " in text
    assert [p.text for p in passages(tmp_path / "leaflet.md")] == [first.chunks[0], second.chunks[0]]
    assert not [c for c in cells if c in text]


def test_text_that_markdown_would_read_as_markup_is_pointed_out(tmp_path: Path) -> None:
    lines = [SECTIONS[0].heading, SECTIONS[0].chunks[0], "# 1 on the list is in the box below, with its answer."]
    (tmp_path / "notes.txt").write_text("\n".join(lines), encoding="utf-8")
    result = run_import(tmp_path / "notes.txt", tmp_path)
    assert result.exit_code == 0, result.output
    assert "notes.md:1: warning: some of the source's text reads as Markdown markup here" in result.stdout
    clean = run_import(write_text(tmp_path / "article.txt", SECTIONS), tmp_path)
    assert "reads as Markdown markup" not in clean.stdout
