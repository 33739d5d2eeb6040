"""A saved web page: its main content only, found by trafilatura, without navigation, header,
footer, cookie banners or scripts. Headings keep their level; ``<dt>``/``<dd>`` pairs of an FAQ page
become a question heading and its answer."""

from __future__ import annotations

from pathlib import Path

import trafilatura
from lxml import etree

from .document import TABLE_NOTE, Block, Document, bullet_list, heading, note, one_line, paragraph
from .errors import ImportRefused


def read_html_file(path: Path) -> Document:
    data = path.read_bytes()
    xml = trafilatura.extract(
        data,
        output_format="xml",
        include_formatting=True,  # keeps headings as headings
        include_comments=False,
        include_tables=True,  # to say where each stood: its cells are not passages
        include_images=False,
        include_links=False,
        deduplicate=False,
        fast=True,  # trafilatura's own extraction: its fallbacks keep the text but lose headings and <dl> pairs
    )
    if not xml:
        raise ImportRefused(f"{path.name}: no main text found in the page")
    root = etree.fromstring(xml.encode("utf-8"))
    main = root.find("main")
    blocks: list[Block] = []
    level = 1
    for element in main if main is not None else []:
        if element.tag == "head":
            level = _level(element.get("rend", "h2"))
            blocks.append(heading(_text(element), level))
        elif element.tag == "p" or element.tag == "quote":
            if text := one_line(_text(element)):
                blocks.append(paragraph(text))
        elif element.tag == "table":
            blocks.append(note(TABLE_NOTE))
        elif element.tag == "list" and element.get("rend") == "dl":
            blocks.extend(_definitions(element, level))
        elif element.tag == "list":
            items = [one_line(_text(item)) for item in element.findall("item")]
            if items := [i for i in items if i]:
                blocks.append(bullet_list(items, ordered=element.get("rend") == "ol"))
    meta = trafilatura.extract_metadata(data)
    return Document(meta.title if meta is not None and meta.title else None, tuple(blocks))


def _definitions(element: etree._Element, level: int) -> list[Block]:
    """An FAQ's ``<dl>``: each term a question heading one level below the section, its definitions the answer."""
    blocks: list[Block] = []
    for item in element.findall("item"):
        text = one_line(_text(item))
        if not text:
            continue
        if item.get("rend", "").startswith("dt"):
            blocks.append(heading(text, level + 1, question=True))
        else:
            blocks.append(paragraph(text))
    return blocks


def _level(rend: str) -> int:
    return int(rend[1]) if len(rend) == 2 and rend[0] == "h" and rend[1].isdigit() else 2


def _text(element: etree._Element) -> str:
    return "".join(element.itertext())
