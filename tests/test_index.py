"""The built index: deterministic, complete manifest, atomic writes, and refusal of anything that does
not match."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np
import pytest

from bot.content.checks import ContentError, build
from bot.embedding import SentenceTransformerEmbedder, Vectors
from bot.index import (
    INDEX_FILE,
    MANIFEST_FILE,
    PASSAGES_FILE,
    SYNONYMS_JSON,
    IndexRefused,
    LoadedIndex,
    load_index,
)
from bot.settings import DEFAULT_MODEL, PROJECT_ROOT

KNOWLEDGE = PROJECT_ROOT / "knowledge"


def manifest_of(folder: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    return data


def vectors_of(folder: Path) -> Vectors:
    index = faiss.read_index(str(folder / INDEX_FILE))
    vectors: Vectors = index.reconstruct_n(0, index.ntotal)
    return vectors


def load(folder: Path, embedder: SentenceTransformerEmbedder, model: str | None = None) -> LoadedIndex:
    return load_index(folder, model or embedder.model_id, embedder.dimension)


def test_the_manifest_names_model_dimension_count_hash_time_and_version(index_dir: Path) -> None:
    manifest = manifest_of(index_dir)
    assert manifest["model"] == DEFAULT_MODEL
    assert manifest["dimension"] == 384
    passages = json.loads((index_dir / PASSAGES_FILE).read_text(encoding="utf-8"))["passages"]
    assert manifest["passage_count"] == len(passages) > 15
    assert isinstance(manifest["content_hash"], str)
    assert len(manifest["content_hash"]) == 64
    assert isinstance(manifest["built_at"], str)
    assert manifest["built_at"].endswith("+00:00")
    assert isinstance(manifest["index_version"], str)
    assert len(manifest["index_version"]) >= 8
    assert manifest["index_type"] == "flat-ip"  # exact inner product on normalised vectors


def test_the_build_is_deterministic(index_dir: Path, embedder: SentenceTransformerEmbedder, tmp_path: Path) -> None:
    again = tmp_path / "index"
    build(KNOWLEDGE, again, embedder)
    first, second = manifest_of(index_dir), manifest_of(again)
    assert first["index_version"] == second["index_version"]
    assert first["content_hash"] == second["content_hash"]
    assert (index_dir / PASSAGES_FILE).read_bytes() == (again / PASSAGES_FILE).read_bytes()
    assert (index_dir / SYNONYMS_JSON).read_bytes() == (again / SYNONYMS_JSON).read_bytes()
    assert np.array_equal(vectors_of(index_dir), vectors_of(again))


def test_stored_vectors_are_normalised(index_dir: Path) -> None:
    norms = np.linalg.norm(vectors_of(index_dir), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-4)


class BreaksMidway:
    """The real model, failing on its second batch: a build that dies half way through."""

    def __init__(self, embedder: SentenceTransformerEmbedder) -> None:
        self.model_id, self.dimension = embedder.model_id, embedder.dimension
        self._embedder, self._calls = embedder, 0

    def known_words(self) -> frozenset[str]:
        return self._embedder.known_words()

    def embed(self, texts: Sequence[str]) -> Vectors:
        self._calls += 1
        if self._calls > 1:
            raise RuntimeError("out of memory")
        return self._embedder.embed(texts)


def test_a_failing_build_leaves_the_old_index_intact(
    index_dir: Path, embedder: SentenceTransformerEmbedder, knowledge_copy: Path, tmp_path: Path
) -> None:
    target = tmp_path / "index"
    shutil.copytree(index_dir, target)
    before = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    document = knowledge_copy / "ketamine-therapy.md"
    document.write_text(document.read_text(encoding="utf-8").replace("nausea", "queasiness"), encoding="utf-8")

    with pytest.raises(RuntimeError, match="out of memory"):
        build(knowledge_copy, target, BreaksMidway(embedder))
    assert {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index", "knowledge"]  # no half-built folder left
    assert load(target, embedder).version == manifest_of(index_dir)["index_version"]

    # Content errors stop the build before anything is written.
    document.write_text(document.read_text(encoding="utf-8").replace("status: approved", "status: maybe"))
    with pytest.raises(ContentError, match="status must be"):
        build(knowledge_copy, target, embedder)
    assert {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()} == before


def test_a_rebuild_replaces_the_index_whole(
    index_dir: Path, embedder: SentenceTransformerEmbedder, knowledge_copy: Path, tmp_path: Path
) -> None:
    target = tmp_path / "index"
    shutil.copytree(index_dir, target)
    document = knowledge_copy / "ketamine-therapy.md"
    document.write_text(document.read_text(encoding="utf-8").replace("nausea", "queasiness"), encoding="utf-8")
    manifest = build(knowledge_copy, target, embedder)
    loaded = load(target, embedder)
    assert loaded.version == manifest.index_version != manifest_of(index_dir)["index_version"]
    assert any("queasiness" in p.text for p in loaded.passages)
    assert manifest.passage_count == manifest_of(index_dir)["passage_count"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index", "knowledge"]


@pytest.fixture
def index_copy(index_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "index"
    shutil.copytree(index_dir, target)
    return target


def test_a_good_index_loads(index_copy: Path, embedder: SentenceTransformerEmbedder) -> None:
    loaded = load(index_copy, embedder)
    assert loaded.manifest.passage_count == len(loaded.passages)


def rewrite_manifest(folder: Path, **changes: object) -> None:
    manifest = manifest_of(folder)
    manifest.update(changes)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")


def edit_passages(folder: Path) -> None:
    path = folder / PASSAGES_FILE
    path.write_text(path.read_text(encoding="utf-8").replace("nausea", "no nausea at all"), encoding="utf-8")


def truncate_vectors(folder: Path) -> None:
    path = folder / INDEX_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def edit_passages_and_their_digest(folder: Path) -> None:
    """A careful forger updates the file digest too: the content hash still catches it."""
    import hashlib

    edit_passages(folder)
    data = (folder / PASSAGES_FILE).read_bytes()
    files = manifest_of(folder)["files"]
    assert isinstance(files, dict)
    files[PASSAGES_FILE] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    rewrite_manifest(folder, files=files)


CORRUPTIONS = {
    "passages.json edited": (edit_passages, "does not match the manifest"),
    "passages.json and its digest edited": (edit_passages_and_their_digest, "content hash"),
    "vectors.faiss truncated": (truncate_vectors, "does not match the manifest"),
    "vectors.faiss missing": (lambda f: (f / INDEX_FILE).unlink(), "missing"),
    "passages.json missing": (lambda f: (f / PASSAGES_FILE).unlink(), "missing"),
    "manifest missing": (lambda f: (f / MANIFEST_FILE).unlink(), "no index at"),
    "manifest garbage": (lambda f: (f / MANIFEST_FILE).write_text("{not json"), "not a valid manifest"),
    "manifest binary": (lambda f: (f / MANIFEST_FILE).write_bytes(b"\xff\xfe\x00"), "not a valid manifest"),
    "manifest a list": (lambda f: (f / MANIFEST_FILE).write_text("[1, 2]"), "not a valid manifest"),
    "manifest lacks a field": (
        lambda f: (f / MANIFEST_FILE).write_text(json.dumps({"model": DEFAULT_MODEL})),
        "not a valid manifest",
    ),
    "manifest files not a mapping": (lambda f: rewrite_manifest(f, files=[]), "not a valid manifest"),
    "manifest count wrong": (lambda f: rewrite_manifest(f, passage_count=3), "manifest says 3"),
    "manifest version forged": (lambda f: rewrite_manifest(f, index_version="0123456789abcdef"), "index_version"),
    "manifest dimension wrong": (lambda f: rewrite_manifest(f, dimension=768), "dimension"),
}


@pytest.mark.parametrize(("corrupt", "message"), CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_corrupt_index_is_refused_clearly(
    index_copy: Path, embedder: SentenceTransformerEmbedder, corrupt: object, message: str
) -> None:
    assert callable(corrupt)
    corrupt(index_copy)
    with pytest.raises(IndexRefused, match=message):
        load(index_copy, embedder)


def test_an_index_for_another_model_is_refused(index_dir: Path, embedder: SentenceTransformerEmbedder) -> None:
    with pytest.raises(IndexRefused, match=r"built with model 'all-MiniLM-L6-v2'.*'another/model'"):
        load(index_dir, embedder, model="another/model")
