"""A least-recently-used cache of replies, valid for one index version.

Most visitors ask the same few questions, and a reply depends only on the question and the index
being served, so a repeat is answered from memory. Every entry belongs to an ``index_version``: when
a reload brings a new version the old entries are dropped whole, so no reply from an old index is
ever served from here.

The server reads and fills it on the event loop (``bot.web.api.answer``), so a repeat never waits for
a worker thread. An ``OrderedDict`` is all an LRU needs (``move_to_end`` and ``popitem`` are O(1));
the lock keeps it whole for callers in other threads. ``functools.lru_cache`` wraps a function and
cannot be emptied per index version.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

Value = TypeVar("Value")


def normalise(text: str) -> str:
    """The cache key of a question: the same words with single spaces, line breaks kept.

    Only differences that nothing downstream can see are folded: the tokenizer, the query reader and
    the crisis gate all split on white space. Line breaks stay, since the crisis gate reads each line
    on its own; case stays, since a configured model may be case-sensitive.
    """
    return "\n".join(" ".join(line.split()) for line in text.strip().split("\n") if line.strip())


class ReplyCache(Generic[Value]):
    """Up to ``size`` values, keyed by index version and a hashable key; ``size`` 0 keeps nothing."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._version: str | None = None
        self._entries: OrderedDict[Hashable, Value] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, version: str, key: Hashable) -> Value | None:
        with self._lock:
            if version != self._version or key not in self._entries:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return self._entries[key]

    def put(self, version: str, key: Hashable, value: Value) -> None:
        if self.size <= 0:
            return
        with self._lock:
            if version != self._version:
                self._entries.clear()
                self._version = version
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._version = None
