"""Serving a new index without a restart: a fully checked reload, and a watcher.

A reload loads the index with every check of ``bot.index.load_index`` (sizes and hashes before FAISS
reads a byte), then runs a canary search that must find known passages, and only then swaps the
assistant's retriever in one step. Anything wrong raises ``IndexRefused`` and the old index keeps
serving. Each server process reloads itself; the watcher lets every worker do it on its own.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.assistant import Assistant, load_release
from bot.embedding import Embedder
from bot.index import MANIFEST_FILE, IndexRefused, Manifest, read_manifest
from bot.knowledge import Passage
from bot.retrieval import Retriever
from bot.safety import CrisisDetector
from bot.settings import Settings

log = logging.getLogger("bot.reload")
CANARIES = 3
CANARY_DEPTH = 3


def refuse_empty(manifest: Manifest, index_dir: Path) -> None:
    """An index without passages could answer no one (and cannot be loaded): refuse it by its manifest."""
    if manifest.passage_count == 0:
        raise IndexRefused(
            f"the index in {index_dir} has no passages: approve a knowledge file with passages, then check and build"
        )


def canary_passages(passages: Sequence[Passage]) -> list[Passage]:
    """A few passages spread over the index: first, middle and last."""
    if not passages:
        return []
    picks = sorted({round(i * (len(passages) - 1) / max(CANARIES - 1, 1)) for i in range(CANARIES)})
    return [passages[i] for i in picks]


def canary_search(retriever: Retriever) -> None:
    """Each canary passage must come back in the top results for one of its own questions (or its
    own heading and text). This catches vectors that no longer line up with their passages, and a
    model that does not match the one that built the index."""
    passages = retriever.index.passages
    if not passages:
        raise IndexRefused("the index has no passages")
    for passage in canary_passages(passages):
        probe = passage.questions[0] if passage.questions else f"{passage.section}. {passage.text}"
        found = [r.passage.id for r in retriever.search(retriever.read(probe), CANARY_DEPTH)]
        if passage.id not in found:
            raise IndexRefused(f"canary search failed: {probe[:80]!r} did not find passage {passage.id}")


def freeze_loaded() -> None:
    """Hide what is loaded now (model, index, passages) from the garbage collector until the next release.

    A full collection walks every object in the process, about 50 ms here, and no request moves while
    it runs: under load that was the slowest one percent of answers. What is loaded lives until the
    next release, so the collector need not walk it. The previous release's objects are unfrozen and
    collected first, so nothing is kept once it is no longer served.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def check_release(
    settings: Settings, embedder: Embedder, index_dir: Path | None = None
) -> tuple[Retriever, CrisisDetector]:
    """Load the release in ``index_dir`` (``FAQBOT_INDEX_DIR``) with every check a reload makes: files,
    counts, model, crisis lists and a canary search. Raises ``IndexRefused``; nothing is swapped in."""
    folder = index_dir or settings.index_dir
    refuse_empty(read_manifest(folder), folder)
    try:
        retriever, crisis = load_release(settings, embedder, folder)
    except (RuntimeError, ValueError, OSError, MemoryError) as error:
        # Sizes and hashes matched, yet FAISS or numpy could not use the files.
        raise IndexRefused(f"the index cannot be loaded: {error}") from error
    canary_search(retriever)
    return retriever, crisis


@dataclass(frozen=True)
class ReloadResult:
    index_version: str
    previous_version: str
    passage_count: int
    built_at: str

    @property
    def changed(self) -> bool:
        return self.index_version != self.previous_version


class Release:
    """Reloads one assistant's index; one reload at a time."""

    def __init__(self, assistant: Assistant, on_refused: Callable[[IndexRefused], None] | None = None) -> None:
        self.assistant = assistant
        self.on_refused = on_refused  # told of every release that fails its checks (the metrics count them)
        self._lock = threading.Lock()

    def reload(self, index_dir: Path | None = None) -> ReloadResult:
        """Load, check and swap in the index in ``index_dir`` (``FAQBOT_INDEX_DIR``); raises ``IndexRefused``."""
        with self._lock:
            previous = self.assistant.retriever
            try:
                retriever, crisis = check_release(self.assistant.settings, previous.embedder, index_dir)
            except IndexRefused as error:
                if self.on_refused is not None:
                    self.on_refused(error)
                raise
            self.assistant.swap(retriever, crisis)
            freeze_loaded()
            manifest = retriever.index.manifest
            log.info("index %s is now served (was %s)", manifest.index_version, previous.version)
            return ReloadResult(manifest.index_version, previous.version, manifest.passage_count, manifest.built_at)


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


class IndexWatcher:
    """Polls ``manifest.json`` and reloads when it names a version other than the one served.

    A refused index is tried again only once its manifest changes, so a bad build is logged once
    rather than every poll. A build caught half-way is simply tried again at the next poll.
    """

    def __init__(self, release: Release, interval: float) -> None:
        self.release = release
        self.interval = interval
        self.manifest = release.assistant.settings.index_dir / MANIFEST_FILE
        self._seen = _signature(self.manifest)

    def poll(self) -> ReloadResult | None:
        signature = _signature(self.manifest)
        if signature is None or signature == self._seen:
            return None
        try:
            version = read_manifest(self.manifest.parent).index_version
        except IndexRefused:
            return None  # being replaced right now: look again next time
        if version == self.release.assistant.retriever.version:
            self._seen = signature
            return None
        try:
            result = self.release.reload()
        except IndexRefused as error:
            if _signature(self.manifest) == signature:
                self._seen = signature
                log.warning("index %s refused, still serving %s: %s", version, self._served(), error)
            return None
        self._seen = signature
        return result

    def _served(self) -> str:
        return self.release.assistant.retriever.version

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await asyncio.to_thread(self.poll)
            except Exception:  # the watcher must outlive any surprise; the server keeps serving
                log.exception("index watcher failed; trying again at the next poll")
