"""The facts of the visible queue (core.queue_view), gathered from the task view and the slot
keeper when someone asks: nothing is written, and nothing is kept but the last view for
``FRESH_S`` (a dashboard stream, a ``watch agenttasks queue`` and a describe share it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from agenttasks.api.timefmt import utcnow
from agenttasks.core.facts import TaskFacts
from agenttasks.core.queue_view import QueueFacts, QueueView, WaitingTask, build, waiting_of
from agenttasks.core.slots import holds_slot

from .slot_keeper import SlotKeeper
from .task_view import TaskView

FRESH_S = 1.0


class QueueSource:
    def __init__(self, view: TaskView, slots: SlotKeeper, watches: Callable[[str], bool],
                 clock: Callable[[], datetime] = utcnow,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.view, self.slots, self.watches = view, slots, watches
        self.clock, self.monotonic = clock, monotonic
        self._last: tuple[float, QueueView] | None = None

    def current(self) -> QueueView:
        """The view of now, or of less than FRESH_S ago."""
        if self._last is not None and self.monotonic() - self._last[0] < FRESH_S:
            return self._last[1]
        view = build(self.facts(self.clock()))
        self._last = (self.monotonic(), view)
        return view

    def facts(self, now: datetime) -> QueueFacts:
        ledger = self.slots.ledger
        offered = {c.key: c for c in ledger.waiting()}  # the reconciles' own candidates
        waiting: list[WaitingTask] = []
        for key in self.view.task_keys():
            entry = self.view.entry(key)
            if not isinstance(entry, TaskFacts) or not self.watches(key[0]):
                continue  # a summary is a terminal task
            waits = self._waiting(entry, now)
            if waits is not None and waits.wait == "queue" and key in offered:
                waits = WaitingTask(offered[key], "queue")
            if waits is not None:
                waiting.append(waits)
        return QueueFacts(waiting, self.slots.running(), self.slots.limits,
                          self.slots.releases.times(), self.slots.releases.since, now,
                          self.slots.aging, ledger.turns())

    def _waiting(self, task: TaskFacts, now: datetime) -> WaitingTask | None:
        holds = self.slots.ledger.has_grant(task.key) or any(
            holds_slot(job) for job in self.view.jobs(task.key))
        deps = task.spec.depends_on if task.spec is not None else []
        phases = {}
        for name in deps:
            summary = self.view.summary((task.namespace, name))
            phases[name] = summary.phase if summary is not None else None
        return waiting_of(task, phases, holds, now)
