"""A document as a draft knowledge file, and the draft's update when the same source is imported again.

Each heading opens a section; a section's paragraphs and lists make one passage, word for word. A
paragraph that is not medical information (a phone number, a copyright line) is kept inside a
``<!-- flagged:`` note, out of the passages, and ``check`` warns about it until the editor decides.
On a second import, the editor's work on the draft is kept: passages whose paragraphs are unchanged
keep where the editor ended them and their alternate questions."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import yaml

from bot.knowledge import FLAGGED_OPEN, QUESTIONS_CLOSE, QUESTIONS_OPEN, Passage

from .document import Block, Document, not_medical

Chunks = tuple[str, ...]
NOTE = "note"  # a chunk that is the import's own note to the editor, not text from the source


@dataclass
class Section:
    heading: Block
    chunks: list[tuple[str, str | None]] = field(default_factory=list)  # (Markdown, why it is flagged)

    def served(self) -> list[str]:
        return [text for text, flag in self.chunks if flag is None]


def sections(document: Document, fallback_title: str) -> tuple[str, list[Section]]:
    """The title and the sections; text before the first heading goes under the title as a top heading."""
    blocks = list(document.blocks)
    top = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), None)
    title = top or document.title or fallback_title
    if not blocks or blocks[0].kind != "heading":
        blocks.insert(0, Block("heading", title, 1))
    out: list[Section] = []
    for block in blocks:
        if block.kind == "heading":
            out.append(Section(block))
        elif block.kind == "note":
            out[-1].chunks.append((block.text, NOTE))
        else:
            out[-1].chunks.append((block.markdown, not_medical(block.markdown)))
    return title, out


def render(
    title: str,
    source: str,
    parts: list[Section],
    previous: list[Passage],
    extra: dict[str, object],
    levels: dict[str, int] | None = None,
) -> str:
    """The knowledge file's text. ``previous`` are the passages of the draft this one replaces; ``levels``
    the heading levels to give headings of those names (plain text has none of its own)."""
    levels = levels or {}
    meta = {"title": title, "status": "draft", "source": source, **extra}
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=10_000).strip(), "---", ""]
    kept = {chunk for p in previous for chunk in p.text.split("\n\n")}
    for number, part in enumerate(parts):
        if part.heading.level > 1 and part.heading.text in levels:
            part.heading = replace(part.heading, level=levels[part.heading.text])
        # A chunk the editor moved out of its note last time stays served.
        part.chunks = [(text, None if text in kept and flag != NOTE else flag) for text, flag in part.chunks]
        following = parts[number + 1].heading.level if number + 1 < len(parts) else 0
        if not part.served() and following <= part.heading.level:
            # A heading with nothing under it would be an empty section: keep it as a note.
            lines += [f"<!-- a heading with no text under it, left out: {part.heading.text} -->", ""]
        else:
            lines += ["#" * part.heading.level + " " + part.heading.text, ""]
        questions = (part.heading.text,) if part.heading.question else ()
        old = [(tuple(p.text.split("\n\n")), p.questions) for p in previous if p.section == part.heading.text]
        run: list[str] = []
        for text, flag in part.chunks:
            if flag is None:
                run.append(text)
                continue
            lines += _passages(run, questions, old)
            questions, run = (), []
            if flag == NOTE:
                lines += [f"<!-- {text} -->", ""]
                continue
            lines += [f"{FLAGGED_OPEN} not medical information ({flag}); not served while it is in this note", text]
            lines += [QUESTIONS_CLOSE, ""]
        lines += _passages(run, questions, old)
    return "\n".join(lines).rstrip("\n") + "\n"


def _passages(run: list[str], questions: tuple[str, ...], old: list[tuple[Chunks, tuple[str, ...]]]) -> list[str]:
    """A run of paragraphs as passages: split where the editor split them before, with their questions."""
    groups: list[tuple[list[str], tuple[str, ...] | None]] = []
    index = 0
    while index < len(run):
        match = next((o for o in old if o[0] and tuple(run[index : index + len(o[0])]) == o[0]), None)
        if match is None:
            if groups and groups[-1][1] is None:
                groups[-1][0].append(run[index])
            else:
                groups.append(([run[index]], None))
            index += 1
        else:
            groups.append((list(match[0]), match[1]))
            index += len(match[0])
    if groups and questions and all(q is None for _, q in groups):
        groups[0] = (groups[0][0], questions)
    lines: list[str] = []
    for number, (chunks, asked) in enumerate(groups):
        for chunk in chunks:
            lines += [chunk, ""]
        # A questions block ends a passage: one goes between passages even when it lists none yet.
        if asked or number + 1 < len(groups):
            lines += [QUESTIONS_OPEN, *(f"- {q}" for q in asked or ()), QUESTIONS_CLOSE, ""]
    return lines
