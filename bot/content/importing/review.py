"""Drafts waiting for review, as the dashboard lists them: where each came from and how it begins."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.knowledge import load_knowledge

PREVIEW_PASSAGES = 3
PREVIEW_WORDS = 24


@dataclass(frozen=True)
class WaitingDraft:
    path: str
    title: str
    source: str
    passages: int
    flagged: int  # lines kept out of the passages as not medical information
    preview: tuple[str, ...]  # the first passages' sections and opening words


def front_matter(path: Path) -> dict[str, Any]:
    """A knowledge file's front matter as a mapping; empty when it has none that can be read."""
    try:
        text = path.read_text(encoding="utf-8")
        meta = yaml.safe_load(text.split("---", 2)[1]) if text.startswith("---") else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError, IndexError):
        return {}
    return meta if isinstance(meta, dict) else {}


def waiting_drafts(knowledge_dir: Path, today: dt.date | None = None) -> list[WaitingDraft]:
    knowledge = load_knowledge(knowledge_dir, today)
    drafts = []
    for file in knowledge.files:
        if file.approved:
            continue
        source = front_matter(knowledge_dir / Path(file.path).name).get("source")
        flagged = sum(1 for p in knowledge.problems if p.path == file.path and p.kind == "flagged")
        preview = tuple(f"{p.section}: {_opening(p.text)}" for p in file.passages[:PREVIEW_PASSAGES])
        drafts.append(WaitingDraft(file.path, file.title, str(source or ""), len(file.passages), flagged, preview))
    return drafts


def _opening(text: str) -> str:
    words = text.split()
    return " ".join(words[:PREVIEW_WORDS]) + (" …" if len(words) > PREVIEW_WORDS else "")
