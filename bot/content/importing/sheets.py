"""An FAQ sheet (CSV, TSV or Excel): a ``question`` and an ``answer`` column, named in the first row.

Each question is a heading and its answer the passage under it; the question is also the passage's
first alternate phrasing. An optional ``section`` (or ``category``/``topic``) column groups them
under headings of their own. An answer keeps its paragraphs (blank lines) and lists (``-`` lines)."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from .document import Block, Document, heading, title_from_name
from .errors import ImportRefused
from .text import decode, read_text

QUESTION_COLUMNS = ("question", "questions", "q")
ANSWER_COLUMNS = ("answer", "answers", "a")
SECTION_COLUMNS = ("section", "category", "topic", "heading")


def read_sheet_file(path: Path) -> Document:
    rows = _xlsx_rows(path) if path.suffix.lower() in (".xlsx", ".xlsm") else _delimited_rows(path)
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise ImportRefused(f"{path.name} has no rows")
    names = [cell.strip().casefold() for cell in rows[0]]

    def column(candidates: tuple[str, ...]) -> int | None:
        return next((names.index(c) for c in candidates if c in names), None)

    question, answer, section = column(QUESTION_COLUMNS), column(ANSWER_COLUMNS), column(SECTION_COLUMNS)
    if question is None or answer is None:
        raise ImportRefused(f"{path.name}: the first row must name a 'question' and an 'answer' column")
    blocks: list[Block] = [heading(title_from_name(path), 1, question=False)]
    current: str | None = None
    for row in rows[1:]:
        cells = [*row, *[""] * (len(names) - len(row))]
        if section is not None and cells[section].strip() and cells[section].strip() != current:
            current = cells[section].strip()
            blocks.append(heading(current, 2, question=False))
        if not cells[question].strip():
            continue
        blocks.append(heading(cells[question], 3 if section is not None else 2, question=True))
        blocks.extend(read_text(cells[answer], headings=False).blocks)
    return Document(None, tuple(blocks))


def _delimited_rows(path: Path) -> list[list[str]]:
    text = decode(path.read_bytes(), path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as error:
        raise ImportRefused(f"{path.name} cannot be read as {delimiter!r}-separated values ({error})") from error


def _xlsx_rows(path: Path) -> list[list[str]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise ImportRefused(f"{path.name} cannot be read as an Excel workbook ({error})") from error
    sheet = book.worksheets[0]
    rows = [["" if value is None else str(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    book.close()
    return rows
