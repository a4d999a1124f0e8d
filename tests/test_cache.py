"""grid/cache.py: the one in-memory cache (jurisdiction indexes, gazetteers, boundaries, insights)."""

from __future__ import annotations

import threading

import pytest

from grid.cache import Lru


def test_least_recently_used_goes_first() -> None:
    c: Lru[int, str] = Lru(3)
    for k in range(3):
        c.put(k, str(k))
    assert c.get(0) == "0"  # 0 is now the most recent: 1 goes next
    c.put(3, "3")
    assert 1 not in c and [c.get(k) for k in (0, 2, 3)] == ["0", "2", "3"] and len(c) == 3
    c.clear()
    assert len(c) == 0 and c.get(0) is None


def test_an_entry_older_than_max_age_is_a_miss_and_dropped() -> None:
    now = [100.0]
    c: Lru[str, int] = Lru(4, clock=lambda: now[0])
    c.put("k", 1)
    now[0] = 109.9
    assert c.get("k", max_age_s=10) == 1
    assert c.get("k") == 1  # no age limit asked: any age
    now[0] = 110.0
    assert c.get("k", max_age_s=10) is None and "k" not in c


def test_get_or_put_builds_only_on_a_miss() -> None:
    c: Lru[str, list[int]] = Lru(2)
    built: list[int] = []

    def build() -> list[int]:
        built.append(1)
        return [len(built)]

    assert c.get_or_put("a", build) == [1]
    assert c.get_or_put("a", build) == [1] and built == [1]


def test_concurrent_use_keeps_the_bound() -> None:
    c: Lru[int, int] = Lru(8)

    def work(base: int) -> None:
        for i in range(2000):
            c.put(base * 10_000 + i, i)
            c.get(base * 10_000 + i // 2)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(c) == 8


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Lru(0)
