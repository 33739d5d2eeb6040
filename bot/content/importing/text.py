"""Plain text, like the seed document: a heading is a short line without closing punctuation.

Without blank lines every line is a block (the seed's layout); with them, a run of lines is one
paragraph, its line breaks folded. Lines starting with ``-``, ``*`` or ``•`` are list items; ``1.``
or ``1)`` items make a numbered list. The first line, when it is a heading, is the title (level 1);
the other headings are level 2 (plain text has no levels; the editor can change them).
"""

from __future__ import annotations

import re
from pathlib import Path

from .document import Block, Document, bullet_list, heading, one_line, paragraph
from .errors import ImportRefused

HEADING_MAX_WORDS = 12
HEADING_MAX_CHARS = 100
CLOSING = (".", "!", ",", ";", ":", "…")
_BULLET = re.compile(r"^\s*(?:[-*•◦▪‣●]|(\d{1,3})[.)])\s+(.*)$")


def read_text_file(path: Path) -> Document:
    return read_text(decode(path.read_bytes(), path), headings=True)


def decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        message = f"{path.name} is not UTF-8 text ({error.reason}): save it as UTF-8 and import it again"
        raise ImportRefused(message) from None


def is_heading_line(line: str) -> bool:
    line = line.strip()
    return (
        bool(line)
        and len(line) <= HEADING_MAX_CHARS
        and len(line.split()) <= HEADING_MAX_WORDS
        and not line.endswith(CLOSING)
        and _BULLET.match(line) is None
    )


def read_text(text: str, headings: bool) -> Document:
    """Blocks from plain text; with ``headings`` false (an answer in an FAQ sheet) there are none."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    by_blank = any(not line.strip() for line in _trimmed(lines))
    groups: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if not line.strip():
            if current:
                groups.append(current)
            current = []
        elif by_blank:
            current.append(line)
        else:
            groups.append([line])
    if current:
        groups.append(current)
    blocks: list[Block] = []
    for group in groups:
        if headings and is_heading_line(group[0]):
            blocks.append(heading(group[0], 1 if not blocks else 2))
            group = group[1:]
        blocks.extend(_paragraphs_and_lists(group))
    return Document(None, tuple(merge_lists(blocks)), levels_known=False)


def merge_lists(blocks: list[Block]) -> list[Block]:
    """Adjacent lists of one kind are one list (the seed has one item a line, with no blank line between)."""
    merged: list[Block] = []
    for block in blocks:
        last = merged[-1] if merged else None
        if last is not None and block.kind == last.kind == "list" and block.ordered == last.ordered:
            merged[-1] = bullet_list([*last.items, *block.items], block.ordered)
        else:
            merged.append(block)
    return merged


def _trimmed(lines: list[str]) -> list[str]:
    start = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    end = next((i for i in range(len(lines), 0, -1) if lines[i - 1].strip()), 0)
    return lines[start:end]


def _paragraphs_and_lists(lines: list[str]) -> list[Block]:
    """A run of lines: list items where they start with a bullet, one paragraph for the lines between."""
    blocks: list[Block] = []
    prose: list[str] = []
    items: list[str] = []
    ordered = False

    def flush_prose() -> None:
        if prose:
            blocks.append(paragraph(one_line(" ".join(prose))))
            prose.clear()

    def flush_items() -> None:
        if items:
            blocks.append(bullet_list(items, ordered))
            items.clear()

    for line in lines:
        match = _BULLET.match(line)
        if match:
            flush_prose()
            if items and ordered != bool(match.group(1)):
                flush_items()
            ordered = bool(match.group(1))
            items.append(match.group(2))
        elif items and line[:1].isspace():
            items[-1] += " " + line.strip()  # an item wrapped onto an indented line
        else:
            flush_items()
            prose.append(line)
    flush_prose()
    flush_items()
    return blocks
