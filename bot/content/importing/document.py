"""What every reader hands over: a document as headings, paragraphs and lists, in reading order.

Readers only find structure; they never change a word. Rendering it as a knowledge file is
``bot.content.importing.draft``'s business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# Lines that are not medical information: kept for the editor, out of the passages, with the reason.
_PHONE = re.compile(r"(?<!\d)(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}(?!\d)|\+\d[\d\s().-]{7,}\d")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_COPYRIGHT = re.compile(r"©|\(c\)\s*\d{4}|\bcopyright\b|\ball rights reserved\b", re.IGNORECASE)
FLAGS = (
    (_COPYRIGHT, "a copyright line"),
    (_PHONE, "a phone number, as in a call to action"),
    (_EMAIL, "an e-mail address, as in a call to action"),
)


@dataclass(frozen=True)
class Block:
    """A heading (``level`` 1 to 6), a paragraph, or a list (``items``)."""

    kind: str  # "heading", "paragraph", "list", or "note": something left out, said where it stood
    text: str = ""
    level: int = 0
    items: tuple[str, ...] = ()
    ordered: bool = False
    question: bool = False  # a heading that is a visitor's question: its passage's first alternate phrasing

    @property
    def markdown(self) -> str:
        """The block as it stands in the knowledge file (a heading without its ``#``)."""
        if self.kind != "list":
            return self.text
        if self.ordered:
            return "\n".join(f"{n}. {item}" for n, item in enumerate(self.items, start=1))
        return "\n".join(f"- {item}" for item in self.items)


@dataclass(frozen=True)
class Document:
    title: str | None  # from the file's metadata; else the first top heading, else the file name
    blocks: tuple[Block, ...]
    levels_known: bool = True  # false for plain text, whose headings all come in one level below the title


TABLE_NOTE = "a table stood here: the import does not bring tables in yet, so copy what it says by hand"


def note(text: str) -> Block:
    return Block("note", text)


def heading(text: str, level: int, question: bool | None = None) -> Block:
    text = one_line(text)
    return Block("heading", text, min(max(level, 1), 6), question=text.endswith("?") if question is None else question)


def paragraph(text: str) -> Block:
    return Block("paragraph", text.strip())


def bullet_list(items: list[str], ordered: bool = False) -> Block:
    return Block("list", items=tuple(one_line(i) for i in items), ordered=ordered)


def one_line(text: str) -> str:
    """Whitespace folded: line breaks and runs of spaces in a web page or a PDF are layout, not wording."""
    return " ".join(text.split())


def title_from_name(path: Path) -> str:
    """A title for a document that names none: its file name in words (``faq-sheet.csv``: Faq sheet)."""
    return path.stem.replace("-", " ").replace("_", " ").strip().capitalize() or "Imported"


def not_medical(text: str) -> str | None:
    """Why a paragraph looks like something other than medical information, or None."""
    return next((reason for pattern, reason in FLAGS if pattern.search(text)), None)


def has_text(document: Document) -> bool:
    return any(b.kind in ("paragraph", "list") and (b.text or b.items) for b in document.blocks)
