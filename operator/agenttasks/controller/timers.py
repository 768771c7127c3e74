"""One wake-up for all objects: a heap of due times, with a single sleeper.

Kopf's per-object timers would mean one coroutine per object; this keeps one in total.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Callable, Hashable
from datetime import datetime

from agenttasks.api.timefmt import utcnow


class WakeUps:
    def __init__(self, fire: Callable[[Hashable], None],
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._fire = fire
        self._clock = clock
        self._heap: list[tuple[datetime, int, Hashable]] = []
        self._due: dict[Hashable, datetime] = {}
        self._counter = itertools.count()
        self._changed = asyncio.Event()

    def at(self, key: Hashable, when: datetime | None) -> None:
        """Wakes ``key`` at ``when``; replaces an earlier request for the same key."""
        if when is None:
            self._due.pop(key, None)
            return
        if self._due.get(key) == when:
            return
        self._due[key] = when
        heapq.heappush(self._heap, (when, next(self._counter), key))
        if self._heap[0][2] == key:
            self._changed.set()

    def soon(self, key: Hashable, when: datetime) -> None:
        """Wakes ``key`` at ``when`` unless it is already due earlier."""
        due = self._due.get(key)
        if due is None or due > when:
            self.at(key, when)

    def forget(self, key: Hashable) -> None:
        self._due.pop(key, None)

    def __len__(self) -> int:
        return len(self._due)

    async def run(self) -> None:
        while True:
            now = self._clock()
            while self._heap and self._heap[0][0] <= now:
                when, _, key = heapq.heappop(self._heap)
                if self._due.get(key) == when:
                    del self._due[key]
                    self._fire(key)
            delay = (self._heap[0][0] - now).total_seconds() if self._heap else 3600.0
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=max(0.0, delay) + 0.01)
