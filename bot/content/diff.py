"""What a new build changes: passages added, removed and changed, by id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.knowledge import Passage


@dataclass(frozen=True)
class IndexDiff:
    """Passages by id: added, removed, and changed (old, new) in text, section, title or questions."""

    added: tuple[Passage, ...]
    removed: tuple[Passage, ...]
    changed: tuple[tuple[Passage, Passage], ...]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def lines(self) -> list[str]:
        out = [f"+ {p.id}  [{p.section}]  {p.path}:{p.line}" for p in self.added]
        out += [f"- {p.id}  [{p.section}]" for p in self.removed]
        for old, new in self.changed:
            fields = ("text", "section", "title", "questions")
            what = [name for name in fields if getattr(old, name) != getattr(new, name)]
            out.append(f"~ {new.id}  [{new.section}]  {new.path}:{new.line}  ({', '.join(what)} changed)")
        return out

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "added": [p.id for p in self.added],
            "removed": [p.id for p in self.removed],
            "changed": [new.id for _, new in self.changed],
        }


def diff_passages(old: Sequence[Passage], new: Sequence[Passage]) -> IndexDiff:
    before = {p.id: p for p in old}
    after = {p.id: p for p in new}

    def same(a: Passage, b: Passage) -> bool:
        return (a.text, a.section, a.title, a.questions) == (b.text, b.section, b.title, b.questions)

    return IndexDiff(
        added=tuple(p for p in new if p.id not in before),
        removed=tuple(p for p in old if p.id not in after),
        changed=tuple((before[p.id], p) for p in new if p.id in before and not same(before[p.id], p)),
    )
