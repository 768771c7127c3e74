"""Agent progress reports waiting for their task's reconciler, newest per task.

An agent may report in a tight loop; status writes are what the API server pays for, so a
task is woken for its reports at most once per interval, and only the newest report is
written. Both maps are bounded: reports wait for at most ``max_pending`` tasks (a report
for one more task is refused, so the agent hears it), and so are the write times (the
oldest goes first; losing one at worst lets one write come early).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agenttasks.api.meta import Key
from agenttasks.api.task import Progress
from agenttasks.core.bounded import BoundedMap

MIN_WRITE_INTERVAL_S = 1.0
# Tasks with a report waiting: one per running task that reports; beyond it the endpoint
# answers 503 rather than hold more.
MAX_PENDING = 10_000


@dataclass
class Coalescer:
    """Keeps the newest report per task; a task is due at most once per interval."""

    interval_s: float = MIN_WRITE_INTERVAL_S
    max_pending: int = MAX_PENDING
    _pending: BoundedMap[Key, Progress] = field(init=False)
    _last_write: BoundedMap[Key, float] = field(init=False)

    def __post_init__(self) -> None:
        self._pending = BoundedMap(self.max_pending)
        # A write time matters for one interval; dropping the oldest when full at worst
        # lets one write come early.
        self._last_write = BoundedMap(self.max_pending)

    def offer(self, key: Key, progress: Progress, now: float) -> float | None:
        """Records a report; returns how long until it may be written (0: now), or None
        when reports already wait for ``max_pending`` other tasks (this one is dropped)."""
        if self._pending.full_without(key):
            return None
        self._pending.put(key, progress)
        return self.offer_delay(key, now)

    def due(self, key: Key, now: float) -> Progress | None:
        """The newest report of ``key`` if it may be written now (it stays pending)."""
        if self.offer_delay(key, now) > 0:
            return None
        return self._pending.get(key)

    def written(self, key: Key, progress: Progress, now: float) -> None:
        """``progress`` reached status at ``now``; a newer report stays pending."""
        self._last_write.put(key, now)
        if self._pending.get(key) is progress:
            self._pending.pop(key)

    def take(self, key: Key, now: float) -> Progress | None:
        """The newest report of ``key`` if it is due now, marking it written."""
        progress = self.due(key, now)
        if progress is not None:
            self.written(key, progress, now)
        return progress

    def has_pending(self, key: Key) -> bool:
        return key in self._pending

    def offer_delay(self, key: Key, now: float) -> float:
        last = self._last_write.get(key)
        return 0.0 if last is None else max(0.0, last + self.interval_s - now)

    def forget(self, key: Key) -> None:
        self._pending.pop(key)
        self._last_write.pop(key)

    def pending_count(self) -> int:
        return len(self._pending)

    def write_times_kept(self) -> int:
        return len(self._last_write)


class ProgressInbox:
    """Reports from the progress endpoint, for the task reconciler to write. ``wake`` is
    set by the controller: it reconciles the task after the given delay in seconds."""

    def __init__(self, interval_s: float = MIN_WRITE_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic,
                 max_pending: int = MAX_PENDING) -> None:
        self._reports = Coalescer(interval_s, max_pending)
        self._clock = clock
        self.wake: Callable[[Key, float], None] = lambda _key, _delay: None

    def offer(self, key: Key, progress: Progress) -> bool:
        """Hands the report to the task's reconciler; False if the inbox is full."""
        delay = self._reports.offer(key, progress, self._clock())
        if delay is None:
            return False
        self.wake(key, delay)
        return True

    def due(self, key: Key) -> Progress | None:
        """The report to write in this reconcile, if one may be written now."""
        return self._reports.due(key, self._clock())

    def waiting(self, key: Key) -> float | None:
        """Seconds until a report still pending may be written; None if none is."""
        if not self._reports.has_pending(key):
            return None
        return self._reports.offer_delay(key, self._clock())

    def written(self, key: Key, progress: Progress) -> None:
        self._reports.written(key, progress, self._clock())

    def forget(self, key: Key) -> None:
        """The task is gone or finished: nothing of it is kept."""
        self._reports.forget(key)

    def sizes(self) -> tuple[int, int]:
        """Entries held: tasks with a report waiting, write times kept."""
        return self._reports.pending_count(), self._reports.write_times_kept()
