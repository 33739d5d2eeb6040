"""A PDF, read with pdfminer.six: text in reading order, headings from the font sizes.

The body size is the size most of the text is set in. A short run of lines set larger is a heading,
the largest size level 1, the next level 2, and so on; a short run all in bold at the body size is a
heading one level below those. A line starting with a bullet (or ``1.``) starts a list item, and the
indented lines below it continue it. Each of pdfminer's text boxes is a paragraph. Lines repeated on
most pages (a running header or footer) and bare page numbers are left out. A PDF with pages but no
text is a scan: it needs OCR first."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pdfminer.high_level import extract_pages
from pdfminer.layout import LAParams, LTChar, LTTextBox, LTTextLine
from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
from pdfminer.pdftypes import PDFException
from pdfminer.psexceptions import PSException

from .document import Block, Document, bullet_list, heading, one_line, paragraph
from .errors import ImportRefused
from .text import HEADING_MAX_WORDS, merge_lists

# A bullet glyph, one a font has no Unicode for (pdfminer's "(cid:N)"), or a number.
_ITEM = re.compile(r"^(?:[•◦▪‣●■\-–*]|\(cid:\d+\)|(\d{1,3})[.)])\s*(.*)$")
_SENTENCE_END = (".", "!", "?", ":", "”", '"', "’", ")")
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?\d+(?:\s*(?:of|/)\s*\d+)?$", re.IGNORECASE)


@dataclass(frozen=True)
class _Line:
    page: int
    box: int  # lines of one text box are one paragraph
    x: float
    text: str
    size: float  # the size most of its characters are set in
    bold: bool

    @property
    def style(self) -> tuple[int, float, bool]:
        return self.box, self.size, self.bold


def read_pdf_file(path: Path) -> Document:
    lines = _lines(path)
    if not lines:
        raise ImportRefused(f"{path.name}: no text layer: run OCR first")
    lines = _without_running_lines(lines)
    sizes: Counter[float] = Counter()
    for line in lines:
        sizes[line.size] += len(line.text)
    body = sizes.most_common(1)[0][0] if sizes else 0.0
    runs = _runs(lines)
    larger = sorted({run[0].size for run in runs if run[0].size > body * 1.1 and _short(run)}, reverse=True)
    blocks: list[Block] = []
    for run in runs:
        text = one_line(" ".join(line.text for line in run))
        if run[0].size in larger and _short(run):
            blocks.append(heading(text, larger.index(run[0].size) + 1))
        elif run[0].bold and _short(run) and not text.endswith((".", ":", ";", ",")):
            blocks.append(heading(text, len(larger) + 1))
        else:
            blocks.extend(_prose(run))
    return Document(None, tuple(merge_lists(blocks)))


def _lines(path: Path) -> list[_Line]:
    try:
        pages = list(extract_pages(str(path), laparams=LAParams()))
    except (PDFPasswordIncorrect, PDFEncryptionError) as error:
        raise ImportRefused(f"{path.name} is encrypted: save a copy without a password and import that") from error
    except (PDFException, PSException, ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
        reason = str(error) or type(error).__name__
        raise ImportRefused(f"{path.name} cannot be read as a PDF ({reason})") from error
    if not pages:
        raise ImportRefused(f"{path.name} cannot be read as a PDF (it has no pages)")
    lines = []
    box = 0
    for number, page in enumerate(pages):
        for element in page:
            if not isinstance(element, LTTextBox):
                continue
            box += 1
            for line in element:
                if isinstance(line, LTTextLine) and (read := _line(number, box, line)) is not None:
                    lines.append(read)
    return lines


def _line(page: int, box: int, line: LTTextLine) -> _Line | None:
    text = line.get_text().strip()
    sizes: Counter[float] = Counter()
    bold = True
    for char in line:
        if isinstance(char, LTChar) and char.get_text().strip():
            sizes[round(char.size, 1)] += 1
            bold = bold and "bold" in char.fontname.lower()
    if not text or not sizes:
        return None
    return _Line(page, box, line.x0, text, sizes.most_common(1)[0][0], bold)


def _runs(lines: list[_Line]) -> list[list[_Line]]:
    """Lines of one box set alike: a heading's lines, or a paragraph's. A list item's indented lines
    stay with it even when pdfminer boxed them apart from its bullet."""
    runs: list[list[_Line]] = []
    bullet_x: float | None = None
    for line in lines:
        item = _ITEM.match(line.text)
        previous = runs[-1][-1] if runs else None
        continues_item = (
            previous is not None
            and bullet_x is not None
            and item is None
            and (line.size, line.bold) == (previous.size, previous.bold)
            and line.x > bullet_x + 1
        )
        # A paragraph that a page break cut runs on at the top of the next page.
        continues_page = (
            previous is not None
            and item is None
            and line.page == previous.page + 1
            and (line.size, line.bold) == (previous.size, previous.bold)
            and not previous.text.endswith(_SENTENCE_END)
        )
        if previous is not None and (previous.style == line.style or continues_item or continues_page):
            runs[-1].append(line)
        else:
            runs.append([line])
            bullet_x = None
        if item is not None:
            bullet_x = line.x
    return runs


def _short(run: list[_Line]) -> bool:
    return len(run) <= 3 and len(" ".join(line.text for line in run).split()) <= HEADING_MAX_WORDS


def _without_running_lines(lines: list[_Line]) -> list[_Line]:
    """Leave out page numbers and lines repeated on most pages: a running header or footer."""
    pages = len({line.page for line in lines})

    def key(line: _Line) -> str:
        return re.sub(r"\d+", "#", line.text).casefold()

    counts = Counter(k for _, k in {(line.page, key(line)) for line in lines})
    repeated = {k for k, n in counts.items() if pages >= 2 and n >= max(2, pages / 2)}
    return [line for line in lines if key(line) not in repeated and not _PAGE_NUMBER.match(line.text)]


def _prose(run: list[_Line]) -> list[Block]:
    """A box's lines as a paragraph, or as list items where lines start with a bullet; a line indented
    past its item's bullet continues the item."""
    blocks: list[Block] = []
    text: list[str] = []
    items: list[str] = []
    bullet_x = 0.0
    ordered = False
    for line in run:
        match = _ITEM.match(line.text)
        if match and match.group(2):
            if text:
                blocks.append(paragraph(_join(text)))
                text = []
            ordered, bullet_x = bool(match.group(1)), line.x
            items.append(match.group(2))
        elif items and line.x > bullet_x + 1:
            items[-1] = _join([items[-1], line.text])
        else:
            if items:
                blocks.append(bullet_list(items, ordered))
                items = []
            text.append(line.text)
    if text:
        blocks.append(paragraph(_join(text)))
    if items:
        blocks.append(bullet_list(items, ordered))
    return blocks


def _join(lines: list[str]) -> str:
    """Lines of a paragraph joined as they read: a line ending in a hyphen runs on without a space."""
    out = ""
    for line in lines:
        out += line if not out or out.endswith("-") else " " + line
    return one_line(out)
