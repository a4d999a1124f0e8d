"""The one in-memory cache of the process: a small, thread-safe LRU with an optional age limit.

Indexes of a boundary version, gazetteers, simplified boundaries and insights are cached with it,
each keyed on whatever makes the answer current (database URL, store generation, version interval,
...), so a stale entry is never looked up again and only waits to be evicted.

>>> c: Lru[str, int] = Lru(2)
>>> c.put("a", 1), c.put("b", 2), c.get("a"), c.put("c", 3)
(1, 2, 1, 3)
>>> c.get("b") is None, c.get("a"), len(c)
(True, 1, 2)
>>> aged: Lru[str, int] = Lru(4, clock=iter([0.0, 5.0, 20.0]).__next__)
>>> aged.put("k", 7), aged.get("k", max_age_s=10), aged.get("k", max_age_s=10)
(7, 7, None)
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Lru(Generic[K, V]):
    """At most ``size`` entries; the least recently used goes first. ``get`` with ``max_age_s``
    ignores (and drops) an entry stored longer ago than that. Values are built outside the lock:
    two threads missing the same key may both build it; the last one stored wins."""

    def __init__(self, size: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._clock = clock
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, *, max_age_s: float | None = None) -> V | None:
        """The value of ``key`` (now the most recently used), or None."""
        now = self._clock() if max_age_s is not None else 0.0
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            if max_age_s is not None and now - hit[0] >= max_age_s:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return hit[1]

    def put(self, key: K, value: V) -> V:
        """Store ``value`` under ``key`` (evicting the least recently used beyond ``size``); returns it."""
        stamp = self._clock()
        with self._lock:
            self._items[key] = (stamp, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def get_or_put(self, key: K, build: Callable[[], V], *, max_age_s: float | None = None) -> V:
        """The cached value of ``key``, else ``build()`` stored under it."""
        hit = self.get(key, max_age_s=max_age_s)
        return hit if hit is not None else self.put(key, build())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items
