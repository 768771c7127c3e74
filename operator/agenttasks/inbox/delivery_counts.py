"""Webhook delivery counts waiting for their trigger's reconciler.

Writing status on every delivery would cost a write per request; the trigger reconciler
flushes these every few seconds instead (an operator killed meanwhile loses only those
seconds of counts).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from agenttasks.api.meta import Key
from agenttasks.core.triggers import PendingCounts


class DeliveryCounts:
    """Counters of deliveries not yet written to status, per trigger. ``on_change`` is set
    by the trigger reconciler: it flushes the counts soon."""

    def __init__(self) -> None:
        self._pending: dict[Key, PendingCounts] = {}
        self.on_change: Callable[[Key], None] = lambda _key: None

    def count(self, key: Key, outcome: str, when: datetime | None = None) -> None:
        pending = self._pending.setdefault(key, PendingCounts())
        setattr(pending, outcome, getattr(pending, outcome) + 1)
        if when is not None:
            pending.last_triggered = max(filter(None, (pending.last_triggered, when)))
        self.on_change(key)

    def take(self, key: Key) -> PendingCounts:
        return self._pending.pop(key, PendingCounts())

    def give_back(self, key: Key, taken: PendingCounts) -> None:
        pending = self._pending.setdefault(key, PendingCounts())
        pending.accepted += taken.accepted
        pending.duplicate += taken.duplicate
        pending.rejected += taken.rejected
        times = [t for t in (pending.last_triggered, taken.last_triggered) if t]
        pending.last_triggered = max(times) if times else None
