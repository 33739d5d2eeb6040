"""Micro-batching: questions that arrive together share one encode call.

On a CPU a small transformer embeds sixteen short texts in one call for little more than the price of
three alone, so concurrent requests wait a moment in an asyncio queue and are encoded together, off
the event loop, on one encoder thread. A lone request never waits: the batcher lingers for more only
while the previous batch showed that requests are arriving together.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from bot.embedding import Embedder, Vectors

log = logging.getLogger("bot")


@dataclass
class _Job:
    texts: list[str]
    done: Future[Vectors] = field(default_factory=Future)


@dataclass
class BatchStats:
    """Counters for the benchmark and tests: how many encode calls served how many requests."""

    batches: int = 0
    requests: int = 0
    texts: int = 0
    largest: int = 0


class MicroBatcher:
    """An ``Embedder`` that merges concurrent ``embed`` calls into one call of the wrapped embedder.

    ``embed`` may be called from any thread but the event loop's (FastAPI runs plain ``def`` routes
    in worker threads); ``embed_async`` from coroutines on the loop. Before ``start`` and after
    ``close`` calls go straight to the wrapped embedder.
    """

    def __init__(self, embedder: Embedder, max_size: int = 32, max_wait: float = 0.002) -> None:
        self.embedder = embedder
        self.model_id = embedder.model_id
        self.dimension = embedder.dimension
        self.max_size = max_size
        self.max_wait = max_wait
        self.stats = BatchStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task[None] | None = None
        # One encoder thread: batches run one after another, each with every core the encoder uses.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder")
        self._lingering = False

    def known_words(self) -> frozenset[str]:
        """The wrapped embedder's dictionary (see ``Embedder.known_words``), if it has one."""
        known_words = getattr(self.embedder, "known_words", None)
        return frozenset(known_words()) if callable(known_words) else frozenset()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run(), name="micro-batcher")

    async def close(self) -> None:
        worker, self._worker, self._loop = self._worker, None, None
        if worker is not None:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        queue, self._queue = self._queue, None
        while queue is not None and not queue.empty():
            queue.get_nowait().done.set_exception(RuntimeError("the server is shutting down"))
        self._executor.shutdown(wait=False)

    def embed(self, texts: Sequence[str]) -> Vectors:
        loop = self._loop
        if loop is None or not texts or _running_loop() is loop:
            # Not serving yet, or called on the loop itself, where waiting for the loop would deadlock.
            return self.embedder.embed(texts)
        job = _Job(list(texts))
        loop.call_soon_threadsafe(self._submit, job)
        return job.done.result()

    async def embed_async(self, texts: Sequence[str]) -> Vectors:
        if self._loop is None or not texts:
            return await asyncio.to_thread(self.embedder.embed, texts)
        job = _Job(list(texts))
        self._submit(job)
        return await asyncio.wrap_future(job.done)

    def _submit(self, job: _Job) -> None:
        if self._queue is None:
            job.done.set_exception(RuntimeError("the server is shutting down"))
        else:
            self._queue.put_nowait(job)

    async def _collect(self, queue: asyncio.Queue[_Job]) -> list[_Job]:
        jobs = [await queue.get()]
        size = len(jobs[0].texts)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.max_wait if self._lingering else 0.0)
        while size < self.max_size:
            if queue.empty():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
            else:
                job = queue.get_nowait()
            jobs.append(job)
            size += len(job.texts)
        return jobs

    async def _run(self) -> None:
        assert self._queue is not None
        queue, loop = self._queue, asyncio.get_running_loop()
        while True:
            jobs = await self._collect(queue)
            # The same text twice in one batch (a popular question) is encoded once.
            unique = list(dict.fromkeys(text for job in jobs for text in job.texts))
            try:
                vectors = await loop.run_in_executor(self._executor, self.embedder.embed, unique)
            except asyncio.CancelledError:
                for job in jobs:
                    job.done.set_exception(RuntimeError("the server is shutting down"))
                raise
            except Exception as error:  # every waiting request hears about it; the batcher lives on
                log.exception("encoding a batch of %d texts failed", len(unique))
                for job in jobs:
                    job.done.set_exception(error)
                continue
            row = {text: i for i, text in enumerate(unique)}
            for job in jobs:
                job.done.set_result(np.ascontiguousarray(vectors[[row[t] for t in job.texts]]))
            self._lingering = len(jobs) > 1
            self.stats.batches += 1
            self.stats.requests += len(jobs)
            self.stats.texts += len(unique)
            self.stats.largest = max(self.stats.largest, len(jobs))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
