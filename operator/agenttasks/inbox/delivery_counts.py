"""Webhook delivery counts waiting for their trigger's reconciler.

Writing status on every delivery would cost a write per request; the trigger reconciler
flushes these every few seconds instead (an operator killed meanwhile loses only those
seconds of counts). A split receiver keeps one of these too, and reports what it holds to
the operator (web/count_forwarder.py), whose intake adds it to the operator's own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from agenttasks.api.meta import Key
from agenttasks.core.delivery_reports import plus
from agenttasks.core.triggers import PendingCounts


class DeliveryCounts:
    """Counters of deliveries not yet written to status, per trigger. ``on_change`` is set
    by the trigger reconciler: it flushes the counts soon. Its keys are triggers that its
    callers know (an index entry), so it holds at most one entry per trigger."""

    def __init__(self) -> None:
        self._pending: dict[Key, PendingCounts] = {}
        self.on_change: Callable[[Key], None] = lambda _key: None

    def count(self, key: Key, outcome: str, when: datetime | None = None) -> None:
        pending = self._pending.setdefault(key, PendingCounts())
        setattr(pending, outcome, getattr(pending, outcome) + 1)
        if when is not None:
            pending.last_triggered = max(filter(None, (pending.last_triggered, when)))
        self.on_change(key)

    def add(self, key: Key, counts: PendingCounts) -> None:
        """Counts gathered elsewhere (a receiver's report), to be flushed as our own."""
        if counts:
            self.give_back(key, counts)
            self.on_change(key)

    def take(self, key: Key) -> PendingCounts:
        return self._pending.pop(key, PendingCounts())

    def take_all(self) -> dict[Key, PendingCounts]:
        taken, self._pending = self._pending, {}
        return taken

    def give_back(self, key: Key, taken: PendingCounts) -> None:
        self._pending[key] = plus(self._pending.get(key, PendingCounts()), taken)

    def __len__(self) -> int:
        return len(self._pending)
