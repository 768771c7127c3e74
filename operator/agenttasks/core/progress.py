"""Agent-reported progress: checking a report, and coalescing writes to one per second per
task (an agent may report in a tight loop; status writes are what the API server pays for)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

from agenttasks.api.task import Progress

MIN_WRITE_INTERVAL_S = 1.0
Key = tuple[str, str]


class ReportError(ValueError):
    """A report that cannot be taken; the message says which field."""


def parse_report(body: Any, attempt: int) -> Progress:
    if not isinstance(body, dict):
        raise ReportError("the body must be a JSON object {completed, total, message}")
    completed, total = body.get("completed", 0), body.get("total", 0)
    for name, value in (("completed", completed), ("total", total)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ReportError(f"{name} must be a whole number ≥ 0")
    message = body.get("message")
    if message is not None and not isinstance(message, str):
        raise ReportError("message must be a string")
    percent = min(100, completed * 100 // total) if total else 0
    return Progress(completed=completed, total=total, percent=percent,
                    message=(message or None) and message[:1024], attempt=attempt)


def token_matches(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


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

    def take(self, key: Key, now: float) -> Progress | None:
        """The newest report of ``key`` if it is due now, marking it written."""
        if key not in self._pending or self.offer_delay(key, now) > 0:
            return None
        self._last_write[key] = now
        return self._pending.pop(key)

    def has_pending(self, key: Key) -> bool:
        return key in self._pending

    def offer_delay(self, key: Key, now: float) -> float:
        return max(0.0, self._last_write.get(key, -self.interval_s) + self.interval_s - now)

    def forget_idle(self, now: float) -> None:
        for key in [k for k, t in self._last_write.items()
                    if now - t > 60 and k not in self._pending]:
            del self._last_write[key]
