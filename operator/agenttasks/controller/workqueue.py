"""A keyed work queue as in client-go: a key is processed by one worker at a time, and
events that arrive meanwhile coalesce into one more pass. Urgent keys (a task that was just
granted a slot) jump ahead of the routine backlog, and some workers take only urgent keys
(get_urgent), so a free slot is filled at once even while every other worker waits on an
API write."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._urgent: deque[K] = deque()
        self._routine: deque[K] = deque()
        self._items = asyncio.Semaphore(0)  # one release per entry of either lane
        self._urgent_items = asyncio.Semaphore(0)  # one release per urgent entry
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: dict[K, bool] = {}  # key → urgent, for keys added while processed

    def add(self, key: K, urgent: bool = False) -> None:
        if key in self._processing:
            self._dirty[key] = self._dirty.get(key, False) or urgent
            return
        if key in self._queued and not urgent:
            return
        # An urgent key already waiting in the routine lane gets a second, earlier entry;
        # whichever entry comes out first wins and the other is skipped.
        self._queued.add(key)
        (self._urgent if urgent else self._routine).append(key)
        self._items.release()
        if urgent:
            self._urgent_items.release()

    async def get(self) -> K:
        """The next key, urgent ones first."""
        while True:
            await self._items.acquire()
            # A permit may outlive its entry (get_urgent took it): then there is nothing.
            if not self._urgent and not self._routine:
                continue
            key = self._urgent.popleft() if self._urgent else self._routine.popleft()
            if self._claim(key):
                return key

    async def get_urgent(self) -> K:
        """The next urgent key only."""
        while True:
            await self._urgent_items.acquire()
            if self._urgent and self._claim(key := self._urgent.popleft()):
                return key

    def _claim(self, key: K) -> bool:
        """Whether ``key``'s entry is still live (its other entry may have been taken)."""
        if key not in self._queued:
            return False
        self._queued.discard(key)
        if not self._queued:  # a set keeps its largest table (start-up's) otherwise
            self._queued = set()
        self._processing.add(key)
        return True

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self.add(key, urgent=self._dirty.pop(key))

    def __len__(self) -> int:
        return len(self._queued)
