"""A Word file (``.docx``), read with python-docx: headings from the heading styles, lists as lists.

The ``Title`` style is the top heading; ``Heading N`` is level N, one level lower when the document
has a title. A paragraph in a list style (``List Bullet``, ``List Number``…) or with Word's
numbering is a list item; items in a row are one list."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table

from .document import TABLE_NOTE, Block, Document, bullet_list, heading, note, paragraph
from .errors import ImportRefused
from .text import merge_lists

_HEADING = re.compile(r"^Heading (\d)$")


def read_word_file(path: Path) -> Document:
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise ImportRefused(f"{path.name} cannot be read as a Word file ({error})") from error
    shift = 1 if any(p.style is not None and p.style.name == "Title" for p in document.paragraphs) else 0
    blocks: list[Block] = []
    for para in document.iter_inner_content():
        if isinstance(para, Table):
            blocks.append(note(TABLE_NOTE))
            continue
        style = para.style.name if para.style is not None and para.style.name else ""
        text = para.text.strip()
        if not text:
            continue
        match = _HEADING.match(style)
        if style == "Title":
            blocks.append(heading(text, 1))
        elif match:
            blocks.append(heading(text, int(match.group(1)) + shift))
        elif style.startswith("List") or (para._p.pPr is not None and para._p.pPr.numPr is not None):
            blocks.append(bullet_list([text], ordered="Number" in style))
        else:
            blocks.append(paragraph(text))
    title = document.core_properties.title or None
    return Document(title, tuple(merge_lists(blocks)))
