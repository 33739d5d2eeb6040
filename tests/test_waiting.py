"""The waiting build: which build waits, what it changes word by word, and loading it to try questions."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from conftest import make_settings

from bot.assistant import Assistant
from bot.content.checks import build
from bot.content.waiting import Piece, WaitingReleases, waiting_build, word_changes
from bot.embedding import SentenceTransformerEmbedder
from bot.index import IndexRefused, read_passages
from bot.knowledge import Passage


def test_changed_words_are_marked_and_the_rest_kept_as_it_was() -> None:
    pieces = word_changes("Plan a ride home after the session.", "Plan a safe ride home after every session.")
    assert "".join(p.text for p in pieces if p.kind != "del") == "Plan a safe ride home after every session."
    assert "".join(p.text for p in pieces if p.kind != "ins") == "Plan a ride home after the session."
    assert [p for p in pieces if p.kind != "same"] == [
        Piece("ins", "safe "),
        Piece("del", "the "),
        Piece("ins", "every "),
    ]
    assert word_changes("same words", "same words") == (Piece("same", "same words"),)


def test_no_build_waits_while_the_one_on_disk_is_served(index_dir: Path) -> None:
    manifest, passages = read_passages(index_dir)
    assert waiting_build(index_dir, manifest.index_version, passages) is None
    assert waiting_build(index_dir / "missing", "x", passages) is None  # nothing built (or being written)


def test_a_build_on_disk_that_differs_is_waiting_with_its_changes(index_dir: Path) -> None:
    manifest, passages = read_passages(index_dir)
    first, second, *rest = passages
    edited = dataclasses.replace(second, text=second.text.replace("ketamine", "esketamine", 1))
    gone = Passage(**{**dataclasses.asdict(first), "id": "gone"})
    served = (gone, edited, *rest)
    waiting = waiting_build(index_dir, "an-older-version", served)
    assert waiting is not None
    assert waiting.version == manifest.index_version
    assert [p.id for p in waiting.added] == [first.id]
    assert [p.id for p in waiting.removed] == ["gone"]
    [change] = waiting.changed
    assert change.fields == ("text",)
    assert [p.text.strip() for p in change.text if p.kind == "ins"] == ["ketamine"]
    assert [p.text.strip() for p in change.text if p.kind == "del"] == ["esketamine"]


def test_a_waiting_build_loads_read_only_and_answers_through_the_assistant(
    tmp_path: Path,
    index_dir: Path,
    knowledge_copy: Path,
    assistant: Assistant,
    embedder: SentenceTransformerEmbedder,
) -> None:
    index = tmp_path / "index"
    shutil.copytree(index_dir, index)
    document = knowledge_copy / "ketamine-therapy.md"
    document.write_text(
        document.read_text(encoding="utf-8") + "\n## Zelphine Notes\n\nZelphine is a word "
        "that only this test's build knows, in a passage of its own.\n",
        encoding="utf-8",
    )
    built = build(knowledge_copy, index, embedder)
    files = {p.name: p.read_bytes() for p in index.iterdir() if p.is_file()}
    loader = WaitingReleases(make_settings(tmp_path, index, knowledge_copy), embedder)
    trial = loader.load(built.index_version)
    assert loader.load(built.index_version) is trial  # kept while it waits
    reply = assistant.chat("What are the Zelphine notes?", snapshot=trial)
    assert reply.index_version == built.index_version
    assert reply.answers[0].passage.section == "Zelphine Notes"
    assert assistant.chat("What are the Zelphine notes?").index_version != built.index_version
    assert {p.name: p.read_bytes() for p in index.iterdir() if p.is_file()} == files  # nothing written
    with pytest.raises(IndexRefused, match="another build replaced it"):
        loader.load("not-the-version-on-disk")
