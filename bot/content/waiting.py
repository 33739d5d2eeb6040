"""The waiting build: an index built on disk that the server does not serve yet.

Before releasing, an editor sees what it changes (passages added, removed, changed, with the changed
words marked) and can try questions against it. It is loaded read-only, beside the served index,
with the same checks as a reload, and answered through the same ``Assistant.chat``; the release
itself is the ordinary reload (``bot.reload``).
"""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.assistant import Snapshot, load_release
from bot.content.diff import diff_passages
from bot.embedding import Embedder
from bot.index import IndexRefused, Manifest, read_manifest, read_passages
from bot.knowledge import Passage
from bot.reload import canary_search
from bot.settings import Settings

_TOKENS = re.compile(r"^\s+|\S+\s*")  # a word with the spaces after it


@dataclass(frozen=True)
class Piece:
    """A run of a changed text: ``same`` in both, ``ins`` only in the new, ``del`` only in the old."""

    kind: str
    text: str


def word_changes(old: str, new: str) -> tuple[Piece, ...]:
    """The new text with the words that changed marked, by ``difflib`` over words and spaces."""
    before, after = _TOKENS.findall(old), _TOKENS.findall(new)
    pieces: list[Piece] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pieces.append(Piece("same", "".join(after[j1:j2])))
            continue
        if i2 > i1:
            pieces.append(Piece("del", "".join(before[i1:i2])))
        if j2 > j1:
            pieces.append(Piece("ins", "".join(after[j1:j2])))
    return tuple(pieces)


@dataclass(frozen=True)
class PassageChange:
    """One passage in both builds that differs, and how."""

    old: Passage
    new: Passage

    @property
    def fields(self) -> tuple[str, ...]:
        names = ("text", "section", "title", "questions")
        return tuple(name for name in names if getattr(self.old, name) != getattr(self.new, name))

    @property
    def text(self) -> tuple[Piece, ...]:
        return word_changes(self.old.text, self.new.text)

    @property
    def section(self) -> tuple[Piece, ...]:
        return word_changes(self.old.section, self.new.section)

    @property
    def questions_added(self) -> tuple[str, ...]:
        return tuple(q for q in self.new.questions if q not in self.old.questions)

    @property
    def questions_removed(self) -> tuple[str, ...]:
        return tuple(q for q in self.old.questions if q not in self.new.questions)


@dataclass(frozen=True)
class WaitingBuild:
    """The build on disk against the one served."""

    manifest: Manifest
    served_version: str
    added: tuple[Passage, ...]
    removed: tuple[Passage, ...]
    changed: tuple[PassageChange, ...]

    @property
    def version(self) -> str:
        return self.manifest.index_version

    @property
    def only_settings(self) -> bool:
        """The passages are the same: the version moved for the safety lists, synonyms or calibration."""
        return not (self.added or self.removed or self.changed)


def waiting_build(index_dir: Path, served_version: str, served: Sequence[Passage]) -> WaitingBuild | None:
    """The build in ``index_dir`` when it is not the one served; None when it is, or while it is being
    written (the next look finds it)."""
    try:
        manifest = read_manifest(index_dir)
        if manifest.index_version == served_version:
            return None
        manifest, passages = read_passages(index_dir)
    except IndexRefused:
        return None
    diff = diff_passages(served, passages)
    changed = tuple(PassageChange(old, new) for old, new in diff.changed)
    return WaitingBuild(manifest, served_version, diff.added, diff.removed, changed)


class WaitingReleases:
    """The waiting build loaded for trying questions, kept while it stays the one waiting."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self._lock = threading.Lock()
        self._loaded: Snapshot | None = None

    def load(self, version: str) -> Snapshot:
        """The build ``version`` from the index folder, fully checked; raises ``IndexRefused``."""
        with self._lock:
            if self._loaded is None or self._loaded.version != version:
                self._loaded = None  # the previous one can go before the next one loads
                try:
                    retriever, crisis = load_release(self.settings, self.embedder)
                except (RuntimeError, ValueError, OSError, MemoryError) as error:
                    raise IndexRefused(f"the index cannot be loaded: {error}") from error
                if retriever.version != version:
                    raise IndexRefused("another build replaced it while it was loading: look again")
                canary_search(retriever)  # what a release would refuse, refused here first
                self._loaded = Snapshot(retriever, crisis)
            return self._loaded

    def forget(self) -> None:
        """Let the loaded build go (once it is released, or replaced)."""
        with self._lock:
            self._loaded = None
