"""Agent progress reports waiting for their task's reconciler, newest per task.

An agent may report in a tight loop; status writes are what the API server pays for, so a
task is woken for its reports at most once per interval, and only the newest report is
written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agenttasks.api.meta import Key
from agenttasks.api.task import Progress

MIN_WRITE_INTERVAL_S = 1.0


@dataclass
class Coalescer:
    """Keeps the newest report per task; a task is due at most once per interval."""

    interval_s: float = MIN_WRITE_INTERVAL_S
    _pending: dict[Key, Progress] = field(default_factory=dict)
    _last_write: dict[Key, float] = field(default_factory=dict)

    def offer(self, key: Key, progress: Progress, now: float) -> float:
        """Records a report; returns how long until it may be written (0: now)."""
        self._pending[key] = progress
        return self.offer_delay(key, now)

    def due(self, key: Key, now: float) -> Progress | None:
        """The newest report of ``key`` if it may be written now (it stays pending)."""
        if key not in self._pending or self.offer_delay(key, now) > 0:
            return None
        return self._pending[key]

    def written(self, key: Key, progress: Progress, now: float) -> None:
        """``progress`` reached status at ``now``; a newer report stays pending."""
        self._last_write[key] = now
        if self._pending.get(key) is progress:
            del self._pending[key]

    def take(self, key: Key, now: float) -> Progress | None:
        """The newest report of ``key`` if it is due now, marking it written."""
        progress = self.due(key, now)
        if progress is not None:
            self.written(key, progress, now)
        return progress

    def has_pending(self, key: Key) -> bool:
        return key in self._pending

    def offer_delay(self, key: Key, now: float) -> float:
        return max(0.0, self._last_write.get(key, -self.interval_s) + self.interval_s - now)

    def forget(self, key: Key) -> None:
        self._pending.pop(key, None)
        self._last_write.pop(key, None)


class ProgressInbox:
    """Reports from the progress endpoint, for the task reconciler to write. ``wake`` is
    set by the controller: it reconciles the task after the given delay in seconds."""

    def __init__(self, interval_s: float = MIN_WRITE_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._reports = Coalescer(interval_s)
        self._clock = clock
        self.wake: Callable[[Key, float], None] = lambda _key, _delay: None

    def offer(self, key: Key, progress: Progress) -> None:
        self.wake(key, self._reports.offer(key, progress, self._clock()))

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
