"""The built index: a FAISS file, the passages and a manifest, written atomically and checked on load.

The index is a whole release: besides what retrieval needs it carries the files that steer the
replies (the scope calibration and the crisis lists), so the index version covers them and a reload
can never pair new passages with old safety lists.

Every file the build writes is listed in the manifest with its size and SHA-256, and loading checks
them before FAISS reads anything: FAISS can abort the whole process on a damaged file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from bot.embedding import Embedder, Vectors
from bot.highlights import Span, sentence_spans
from bot.knowledge import KnowledgeBase, Passage
from bot.query import OutOfScope
from bot.scope import CALIBRATION_FILE, ScopeModel, read_calibration

INDEX_FILE = "vectors.faiss"
PASSAGES_FILE = "passages.json"
SYNONYMS_JSON = "synonyms.json"
OUT_OF_SCOPE_FAISS = "out-of-scope.faiss"
OUT_OF_SCOPE_JSON = "out-of-scope.json"
SENTENCES_FILE = "sentences.json"  # each passage's sentences, as character spans
SENTENCE_VECTORS_FILE = "sentences.npy"
MANIFEST_FILE = "manifest.json"
README_FILE = "README.md"
SERVED_FILES = (
    INDEX_FILE,
    PASSAGES_FILE,
    SYNONYMS_JSON,
    OUT_OF_SCOPE_FAISS,
    OUT_OF_SCOPE_JSON,
    SENTENCES_FILE,
    SENTENCE_VECTORS_FILE,
)
# Bump when what is embedded for a passage changes, so that the index version changes too.
RECIPE = "heading+text,questions,sentences/v2"
# Exact search up to this many vectors; above it an HNSW graph keeps queries fast.
EXACT_SEARCH_LIMIT = 20_000
# The graph's links per vector and search breadths: `faqbot bench --scale` measures their recall.
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 128
BATCH = 64
README_TEXT = """# index/

Built by `faqbot build` from the approved files in `knowledge/`. Do not edit: rebuild instead.
`manifest.json` names the model, the content hash and the `index_version` of what is here.
"""


class IndexRefused(Exception):
    """The index on disk cannot be served; the message says why."""


@dataclass(frozen=True)
class Manifest:
    model: str
    dimension: int
    passage_count: int
    vector_count: int
    content_hash: str
    built_at: str
    index_version: str
    index_type: str
    recipe: str
    files: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class LoadedIndex:
    """An index ready to search: vector row ``i`` belongs to ``passages[owners[i]]``."""

    manifest: Manifest
    passages: tuple[Passage, ...]
    owners: NDArray[np.int64]
    vectors: faiss.Index
    synonyms: dict[str, list[str]]
    out_of_scope: tuple[OutOfScope, ...]  # questions the knowledge does not answer
    out_of_scope_vectors: faiss.Index
    scope_model: ScopeModel
    folder: Path  # where the release's other files (the crisis lists) are read from
    sentence_owners: NDArray[np.int64]  # sentence row i belongs to passages[sentence_owners[i]]
    sentence_spans: tuple[Span, ...]
    sentence_vectors: NDArray[np.float32]

    @property
    def version(self) -> str:
        return self.manifest.index_version


def embedding_texts(passage: Passage) -> list[str]:
    """What is embedded for a passage: its heading with its text, and each alternate question."""
    return [f"{passage.section}. {passage.text}", *passage.questions]


def content_hash(
    passages: Iterable[Passage],
    synonyms: dict[str, list[str]],
    out_of_scope: Iterable[OutOfScope] = (),
    release_files: Mapping[str, bytes] | None = None,
) -> str:
    """A hash of everything that is served or steers a reply: passages, synonyms, out-of-scope examples,
    and the release's other files (the scope calibration, the crisis lists) by name and content."""
    digest = hashlib.sha256(RECIPE.encode())
    for passage in passages:
        record = [passage.id, passage.title, passage.section, passage.text, list(passage.questions)]
        digest.update(json.dumps(record, ensure_ascii=False).encode())
    digest.update(json.dumps(synonyms, ensure_ascii=False, sort_keys=True).encode())
    digest.update(json.dumps([[o.topic, o.question] for o in out_of_scope], ensure_ascii=False).encode())
    for name, data in sorted((release_files or {}).items()):
        digest.update(f"\n{name}\n{hashlib.sha256(data).hexdigest()}".encode())
    return digest.hexdigest()


def index_version(content: str, model: str) -> str:
    return hashlib.sha256(f"{content}\n{model}".encode()).hexdigest()[:16]


def _file_digest(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def make_faiss_index(vectors: Vectors) -> tuple[faiss.Index, str]:
    """Exact inner product for small collections, an HNSW graph for large ones."""
    dimension = vectors.shape[1]
    index: faiss.Index
    if len(vectors) <= EXACT_SEARCH_LIMIT:
        index, kind = faiss.IndexFlatIP(dimension), "flat-ip"
    else:
        index, kind = hnsw_graph(dimension), "hnsw-ip"
    index.add(vectors)
    return index, kind


def hnsw_graph(dimension: int) -> faiss.IndexHNSWFlat:
    """An empty HNSW graph for inner products, with the parameters every large index is built with."""
    graph = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    graph.hnsw.efSearch = HNSW_EF_SEARCH
    return graph


def build_index(
    knowledge: KnowledgeBase,
    index_dir: Path,
    embedder: Embedder,
    synonyms: dict[str, list[str]],
    out_of_scope: list[OutOfScope],
    release_files: Mapping[str, bytes],
    progress: bool = False,
) -> Manifest:
    """Embed the approved passages and write ``index_dir`` whole, or not at all."""
    if knowledge.errors:
        raise IndexRefused(f"the knowledge base has {len(knowledge.errors)} error(s); run 'check'")
    passages = knowledge.passages
    texts: list[str] = []
    owners: list[int] = []
    for number, passage in enumerate(passages):
        for text in embedding_texts(passage):
            texts.append(text)
            owners.append(number)
    chunks = [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)]
    parts = [embedder.embed(chunk) for chunk in tqdm(chunks, desc="Embedding", unit="batch", disable=not progress)]
    vectors = np.vstack(parts) if parts else np.zeros((0, embedder.dimension), dtype=np.float32)
    index, kind = make_faiss_index(vectors)

    sentences = [(number, span) for number, p in enumerate(passages) for span in sentence_spans(p.text)]
    sentence_texts = [passages[number].text[start:end] for number, (start, end) in sentences]
    sentence_vectors = embedder.embed(sentence_texts) if sentences else np.zeros((0, embedder.dimension), np.float32)
    digest = content_hash(passages, synonyms, out_of_scope, release_files)
    scope_index = faiss.IndexFlatIP(embedder.dimension)
    if out_of_scope:
        scope_index.add(embedder.embed([o.question for o in out_of_scope]))
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.build-", dir=index_dir.parent))
    try:
        faiss.write_index(index, str(staging / INDEX_FILE))
        records = {"passages": [passage_to_dict(p) for p in passages], "owners": owners}
        (staging / PASSAGES_FILE).write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
        (staging / SYNONYMS_JSON).write_text(json.dumps(synonyms, ensure_ascii=False, indent=1), encoding="utf-8")
        faiss.write_index(scope_index, str(staging / OUT_OF_SCOPE_FAISS))
        records = {"owners": [n for n, _ in sentences], "spans": [list(span) for _, span in sentences]}
        (staging / SENTENCES_FILE).write_text(json.dumps(records), encoding="utf-8")
        np.save(staging / SENTENCE_VECTORS_FILE, np.asarray(sentence_vectors, dtype=np.float32), allow_pickle=False)
        scope_records = [asdict(o) for o in out_of_scope]
        (staging / OUT_OF_SCOPE_JSON).write_text(json.dumps(scope_records, ensure_ascii=False, indent=1), "utf-8")
        for name, data in release_files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)
        (staging / README_FILE).write_text(README_TEXT, encoding="utf-8")
        manifest = Manifest(
            model=embedder.model_id,
            dimension=embedder.dimension,
            passage_count=len(passages),
            vector_count=len(texts),
            content_hash=digest,
            built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            index_version=index_version(digest, embedder.model_id),
            index_type=kind,
            recipe=RECIPE,
            files={name: _file_digest(staging / name) for name in (*SERVED_FILES, *sorted(release_files))},
        )
        (staging / MANIFEST_FILE).write_text(json.dumps(asdict(manifest), indent=2) + "\n", encoding="utf-8")
        swap_in(staging, index_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def swap_in(staging: Path, index_dir: Path) -> None:
    """Put the finished folder in place with renames, so no reader sees a half-written index."""
    if not index_dir.exists():
        os.rename(staging, index_dir)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.old-", dir=index_dir.parent))
    os.rename(index_dir, retired / "index")
    os.rename(staging, index_dir)
    shutil.rmtree(retired, ignore_errors=True)


def read_manifest(index_dir: Path) -> Manifest:
    path = index_dir / MANIFEST_FILE
    if not path.is_file():
        raise IndexRefused(f"no index at {index_dir}: run 'faqbot build' first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        manifest = Manifest(**data)
    except (ValueError, TypeError) as error:
        raise IndexRefused(f"{path} is not a valid manifest: {error}") from error
    if not isinstance(manifest.files, dict) or not all(isinstance(v, dict) for v in manifest.files.values()):
        raise IndexRefused(f"{path} is not a valid manifest: 'files' must map file names to their digests")
    return manifest


def passage_to_dict(passage: Passage) -> dict[str, Any]:
    return {**asdict(passage), "questions": list(passage.questions), "headings": list(passage.headings)}


def passage_from_dict(data: dict[str, Any]) -> Passage:
    return Passage(**{**data, "questions": tuple(data["questions"]), "headings": tuple(data["headings"])})


def read_passages(index_dir: Path) -> tuple[Manifest, tuple[Passage, ...]]:
    """An index folder's manifest and passages, without touching the FAISS file."""
    manifest = read_manifest(index_dir)
    try:
        records = json.loads((index_dir / PASSAGES_FILE).read_text(encoding="utf-8"))
        return manifest, tuple(passage_from_dict(p) for p in records["passages"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise IndexRefused(f"{index_dir / PASSAGES_FILE} cannot be read: {error}") from error


def load_index(index_dir: Path, model: str, dimension: int) -> LoadedIndex:
    """Load and fully check an index for the given model, or raise ``IndexRefused``."""
    manifest = read_manifest(index_dir)
    if manifest.index_version != index_version(str(manifest.content_hash), str(manifest.model)):
        raise IndexRefused("the manifest's index_version does not match its content hash and model")
    if manifest.model != model:
        raise IndexRefused(f"index was built with model {manifest.model!r}, but the server uses {model!r}")
    if manifest.dimension != dimension:
        raise IndexRefused(f"index has dimension {manifest.dimension}, but the model gives {dimension}")
    if not set(SERVED_FILES) <= set(manifest.files) or CALIBRATION_FILE not in manifest.files:
        raise IndexRefused("the manifest does not list the index files")
    for name, expected in manifest.files.items():
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise IndexRefused(f"the manifest names a file outside the index: {name!r}")
        path = index_dir / name
        if not path.is_file():
            raise IndexRefused(f"{path} is missing")
        if _file_digest(path) != expected:
            raise IndexRefused(f"{path} does not match the manifest (changed or damaged)")
    try:
        records = json.loads((index_dir / PASSAGES_FILE).read_text(encoding="utf-8"))
        passages = tuple(passage_from_dict(p) for p in records["passages"])
        owners = np.asarray(records["owners"], dtype=np.int64)
        synonyms = json.loads((index_dir / SYNONYMS_JSON).read_text(encoding="utf-8"))
        scope_records = json.loads((index_dir / OUT_OF_SCOPE_JSON).read_text(encoding="utf-8"))
        out_of_scope = tuple(OutOfScope(**record) for record in scope_records)
        sentence_records = json.loads((index_dir / SENTENCES_FILE).read_text(encoding="utf-8"))
        sentence_owners = np.asarray(sentence_records["owners"], dtype=np.int64)
        spans = tuple((int(start), int(end)) for start, end in sentence_records["spans"])
        sentence_vectors = np.load(index_dir / SENTENCE_VECTORS_FILE, allow_pickle=False)
    except (ValueError, KeyError, TypeError) as error:
        raise IndexRefused(f"{index_dir / PASSAGES_FILE} is not valid: {error}") from error
    try:
        vectors = faiss.read_index(str(index_dir / INDEX_FILE))
    except RuntimeError as error:
        # A file that matches a hand-edited manifest can still be cut short; FAISS says so this way.
        raise IndexRefused(f"{index_dir / INDEX_FILE} is not a readable FAISS index") from error
    if len(passages) != manifest.passage_count:
        raise IndexRefused(f"{len(passages)} passages on disk, the manifest says {manifest.passage_count}")
    if vectors.ntotal != manifest.vector_count or len(owners) != vectors.ntotal:
        raise IndexRefused("the FAISS file and the passages are out of step")
    if vectors.d != dimension:
        raise IndexRefused(f"the FAISS file has dimension {vectors.d}, the model gives {dimension}")
    if len(owners) and (owners.min() < 0 or owners.max() >= len(passages)):
        raise IndexRefused("vectors point at passages that do not exist")
    if not len(sentence_owners) == len(spans) == len(sentence_vectors) or sentence_vectors.shape[1:] != (dimension,):
        raise IndexRefused("the sentences and their vectors are out of step")
    if len(sentence_owners) and (sentence_owners.min() < 0 or sentence_owners.max() >= len(passages)):
        raise IndexRefused("sentences point at passages that do not exist")
    release_files = {name: (index_dir / name).read_bytes() for name in manifest.files if name not in SERVED_FILES}
    if content_hash(passages, synonyms, out_of_scope, release_files) != manifest.content_hash:
        raise IndexRefused("the passages do not match the manifest's content hash")
    scope_model, problems = read_calibration(index_dir / CALIBRATION_FILE)
    if scope_model is None:
        raise IndexRefused("; ".join(str(p) for p in problems))
    scope_vectors = faiss.read_index(str(index_dir / OUT_OF_SCOPE_FAISS))
    if scope_vectors.ntotal != len(out_of_scope) or scope_vectors.d != dimension:
        raise IndexRefused("the out-of-scope vectors and their questions are out of step")
    return LoadedIndex(
        manifest,
        passages,
        owners,
        vectors,
        synonyms,
        out_of_scope,
        scope_vectors,
        scope_model,
        index_dir,
        sentence_owners,
        spans,
        sentence_vectors.astype(np.float32),
    )
