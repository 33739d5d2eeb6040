"""Source files for the import tests, built from the project's own knowledge file: a web page with
navigation, a cookie banner, scripts and a footer around the text, a Word file, a PDF with a running
header and footer, an FAQ sheet and plain text. Each carries one call to action with the clinic's
number, which the import must flag rather than serve."""

from __future__ import annotations

import csv
import datetime as dt
import html
from dataclasses import dataclass, field
from pathlib import Path

from bot.knowledge import read_file
from bot.settings import PROJECT_ROOT, Settings

KNOWLEDGE_FILE = PROJECT_ROOT / "knowledge" / "ketamine-therapy.md"
PHONE = Settings.model_fields["contact_phone"].default
CALL_TO_ACTION = f"Book your first consultation today: call us at {PHONE}."
# Text around the content of a page or a PDF that must never reach a passage.
NAVIGATION = ["Clinic home", "About our team", "Book a visit", "Accept all cookies", "tracking-snippet"]
FOOTER = ["© 2026 Example Clinic. All rights reserved.", "Privacy notice and terms of use"]
RUNNING_HEADER = "Example Clinic patient leaflet"


@dataclass
class Section:
    heading: str
    level: int
    chunks: list[str] = field(default_factory=list)  # paragraphs, and lists as "- item" lines


def knowledge_sections() -> list[Section]:
    """The knowledge file's sections in order, with every paragraph and list of their passages."""
    knowledge, problems = read_file(KNOWLEDGE_FILE, "ketamine-therapy.md", dt.date.today())
    assert knowledge is not None, problems
    sections: list[Section] = []
    for passage in knowledge.passages:
        if not sections or sections[-1].heading != passage.section:
            sections.append(Section(passage.section, len(passage.headings) + 1))
        sections[-1].chunks += passage.text.split("\n\n")
    return sections


def is_list(chunk: str) -> bool:
    return all(line.startswith("- ") for line in chunk.splitlines())


def items(chunk: str) -> list[str]:
    return [line[2:] for line in chunk.splitlines()]


def write_html(path: Path, sections: list[Section]) -> Path:
    body = []
    for number, section in enumerate(sections):
        body.append(f"<h{section.level}>{html.escape(section.heading)}</h{section.level}>")
        for chunk in section.chunks:
            if is_list(chunk):
                body.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items(chunk)) + "</ul>")
            else:
                body.append(f"<p>{html.escape(chunk)}</p>")
        if number == 1:
            body.append(f'<p class="cta">{html.escape(CALL_TO_ACTION)}</p>')
    nav = "".join(f'<li><a href="/{n}">{n}</a></li>' for n in NAVIGATION[:3])
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(sections[0].heading)} | Example Clinic</title>
<script>window.tracking = "{NAVIGATION[4]}";</script><style>nav {{ display: flex; }}</style></head>
<body>
<div id="cookie-banner" class="cookie-consent" role="dialog"><p>We use cookies on this site.</p>
<button>{NAVIGATION[3]}</button></div>
<header class="site-header"><nav><ul>{nav}</ul></nav></header>
<main><article>
{chr(10).join(body)}
</article></main>
<footer class="site-footer"><p>{html.escape(FOOTER[0])}</p><p><a href="/privacy">{FOOTER[1]}</a></p></footer>
<script>console.log("{NAVIGATION[4]}");</script>
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path


def write_docx(path: Path, sections: list[Section]) -> Path:
    import docx

    document = docx.Document()
    for number, section in enumerate(sections):
        # Word's Title style is the top heading; Heading 1 is the level below it.
        document.add_heading(section.heading, level=section.level - 1)
        for chunk in section.chunks:
            if is_list(chunk):
                for item in items(chunk):
                    document.add_paragraph(item, style="List Bullet")
            else:
                document.add_paragraph(chunk)
        if number == 1:
            document.add_paragraph(CALL_TO_ACTION)
    document.add_paragraph(FOOTER[0])
    document.save(str(path))
    return path


def write_pdf(path: Path, sections: list[Section]) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    sizes = {1: 20, 2: 16, 3: 13}
    body = ParagraphStyle("body", fontName="Helvetica", fontSize=10, leading=13, spaceAfter=8)
    bullet = ParagraphStyle("bullet", parent=body, leftIndent=14, bulletIndent=4, spaceAfter=3)
    story = []
    for number, section in enumerate(sections):
        size = sizes[section.level]
        style = ParagraphStyle(f"h{section.level}", fontName="Helvetica-Bold", fontSize=size, leading=size * 1.3)
        story.append(Paragraph(html.escape(section.heading), style))
        for chunk in section.chunks:
            if is_list(chunk):
                story += [Paragraph(html.escape(i), bullet, bulletText="•") for i in items(chunk)]
            else:
                story.append(Paragraph(html.escape(chunk), body))
        if number == 1:
            story.append(Paragraph(html.escape(CALL_TO_ACTION), body))

    def page_furniture(canvas, document) -> None:  # type: ignore[no-untyped-def]
        canvas.setFont("Helvetica", 8)
        canvas.drawString(72, A4[1] - 40, RUNNING_HEADER)
        canvas.drawString(72, 30, f"{FOOTER[0]} Page {document.page}")

    SimpleDocTemplate(str(path), pagesize=A4).build(story, onFirstPage=page_furniture, onLaterPages=page_furniture)
    return path


def write_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """An FAQ sheet: (section, question, answer) rows under a header row."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["Section", "Question", "Answer"])
        writer.writerows(rows)
    return path


def write_text(path: Path, sections: list[Section]) -> Path:
    """Plain text laid out as the seed document is: one paragraph, heading or list item a line."""
    lines: list[str] = []
    for number, section in enumerate(sections):
        lines.append(section.heading)
        lines += [line for chunk in section.chunks for line in chunk.splitlines()]
        if number == 1:
            lines.append(CALL_TO_ACTION)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
