"""A map that never holds more than its capacity: the memory an HTTP caller can make the
operator keep is bounded, whatever keys it sends.

Entries are kept in the order they were last put; a put into a full map first drops the
oldest. With one TTL for every entry, the oldest is also the one that expires first, so
callers that store an expiry time lose the entry that was about to expire anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedMap(Generic[K, V]):
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a bounded map holds at least one entry")
        self.capacity = capacity
        self._entries: dict[K, V] = {}

    def put(self, key: K, value: V) -> None:
        """Stores ``value`` as the newest entry, dropping the oldest one if full."""
        self._entries.pop(key, None)
        while len(self._entries) >= self.capacity:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = value

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def pop(self, key: K) -> V | None:
        return self._entries.pop(key, None)

    def drop_where(self, stale: Callable[[V], bool]) -> None:
        """Drops every entry whose value is ``stale`` (for example: expired)."""
        for key in [k for k, v in self._entries.items() if stale(v)]:
            del self._entries[key]

    def full_without(self, key: K) -> bool:
        """Whether storing ``key`` would drop another entry."""
        return key not in self._entries and len(self._entries) >= self.capacity

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[K]:
        return iter(self._entries)
