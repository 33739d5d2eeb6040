"""Import one file as a draft knowledge file: pick the reader by the file's extension, write the
draft (or update this source's draft), and compare it with what it replaces.

>>> result = import_file(Path("leaflet.pdf"), Path("knowledge"))   # doctest: +SKIP
>>> result.path
PosixPath('knowledge/leaflet.md')

Importing the same file again updates its draft and says what changed. A draft never replaces an
approved file: it goes beside it as ``NAME.draft.md``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bot.content.diff import IndexDiff, diff_passages
from bot.knowledge import Passage, Problem, display_path, read_file, slugify

from .document import Document, has_text, title_from_name
from .draft import NOTE, render, sections
from .errors import ImportRefused
from .html import read_html_file
from .pdf import read_pdf_file
from .review import front_matter
from .sheets import read_sheet_file
from .text import read_text_file
from .word import read_word_file

READERS: dict[str, Callable[[Path], Document]] = {
    ".html": read_html_file,
    ".htm": read_html_file,
    ".docx": read_word_file,
    ".pdf": read_pdf_file,
    ".txt": read_text_file,
    ".csv": read_sheet_file,
    ".tsv": read_sheet_file,
    ".xlsx": read_sheet_file,
}
MISREAD = (
    "some of the source's text reads as Markdown markup here (a line starting with '# ', '<' or '---'): "
    "compare the draft with the source before approving it"
)
# Front matter the import writes itself; the editor's other fields survive a second import.
OWN_FIELDS = ("title", "status", "source")


@dataclass(frozen=True)
class ImportResult:
    path: Path
    passages: tuple[Passage, ...]
    sections: int
    flagged: int  # paragraphs kept in a note as not medical information
    left_out: int  # things it could not bring in (tables), each with a note where it stood
    changes: IndexDiff | None  # against ``compared_with``, when there was something to compare with
    compared_with: str | None
    problems: tuple[Problem, ...]  # what ``check`` will say about the draft


def import_file(source: Path, out_dir: Path, today: dt.date | None = None) -> ImportResult:
    """Read ``source`` and write (or update) its draft in ``out_dir``; raises ``ImportRefused``."""
    reader = READERS.get(source.suffix.lower())
    if reader is None:
        known = ", ".join(sorted(READERS))
        raise ImportRefused(f"cannot import {source.suffix or 'files without an extension'}: give one of {known}")
    if not source.is_file():
        raise ImportRefused(f"{source} does not exist")
    if source.stat().st_size == 0:
        raise ImportRefused(f"{source.name} is empty")
    document = reader(source)
    if not has_text(document):
        raise ImportRefused(f"{source.name} has no text to import")
    if not out_dir.is_dir():
        raise ImportRefused(f"{out_dir} is not a folder")
    target = _target(out_dir, source.name)
    display = display_path(target)
    today = today or dt.date.today()
    previous, extra, compared_with = _previous(target, display, today)
    title, parts = sections(document, title_from_name(source))
    # Plain text has no heading levels: where the file it revises has the same heading, take its level.
    levels = {} if document.levels_known else {p.section: len(p.headings) + 1 for p in previous}
    text = render(title, source.name, parts, previous, extra, levels)
    temporary = out_dir / f".{target.name}.importing"
    temporary.write_text(text, encoding="utf-8")
    try:
        knowledge_file, problems = read_file(temporary, display, today)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    passages = knowledge_file.passages if knowledge_file is not None else ()
    # Markdown reads some text as markup (a paragraph starting with "# " is a heading): say so, never silently.
    planned = [chunk for part in parts for chunk in part.served()]
    if [chunk for p in passages for chunk in p.text.split("\n\n")] != planned:
        problems.append(Problem(display, 1, MISREAD, "warning"))
    changes = diff_passages(previous, passages) if compared_with is not None else None
    flagged = sum(1 for part in parts for _, flag in part.chunks if flag not in (None, NOTE))
    notes = sum(1 for part in parts for _, flag in part.chunks if flag == NOTE)
    return ImportResult(target, passages, len(parts), flagged, notes, changes, compared_with, tuple(problems))


def _target(out_dir: Path, source_name: str) -> Path:
    """``NAME.md``, or ``NAME.draft.md`` beside a file of that name that is not this source's draft."""
    stem = slugify(Path(source_name).stem)
    for name in (f"{stem}.md", f"{stem}.draft.md"):
        path = out_dir / name
        meta = front_matter(path) if path.exists() else None
        if meta is None or (meta.get("status") == "draft" and meta.get("source") == source_name):
            return path
    raise ImportRefused(
        f"{out_dir / stem}.md and {stem}.draft.md exist and are not drafts imported from {source_name}: "
        "import into another folder with --out"
    )


def _previous(target: Path, display: str, today: dt.date) -> tuple[list[Passage], dict[str, object], str | None]:
    """What the new draft replaces or revises: the passages to compare with, the editor's own front
    matter fields to keep, and what the comparison is against."""
    if target.exists():  # this source's draft: update it
        knowledge_file, _ = read_file(target, display, today)
        extra = {k: v for k, v in front_matter(target).items() if k not in OWN_FIELDS}
        return list(knowledge_file.passages if knowledge_file else ()), extra, "the previous draft"
    approved = target.with_name(target.name.removesuffix(".draft.md") + ".md")
    if approved != target and approved.exists():  # a revision of an approved file: compare with it
        knowledge_file, _ = read_file(approved, display_path(approved), today)
        stem = Path(display).stem
        own = knowledge_file.passages if knowledge_file else ()
        return [replace(p, id=f"{stem}#{p.id.split('#', 1)[1]}") for p in own], {}, display_path(approved)
    return [], {}, None
