"""The shell around core.slots.SlotLedger: feeds it every Job event and every task's wish,
runs its grant passes (only while this replica is active), and wakes the granted tasks
(urgently: a granted task is reconciled before the routine backlog).

All slot accounting, and the rule of what holds a slot, is the ledger's; this module only
decides when to ask it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from agenttasks import metrics
from agenttasks.api.meta import Key
from agenttasks.api.timefmt import utcnow
from agenttasks.core.facts import JobFacts
from agenttasks.core.queue import Aging, Candidate, Limits, Placement, Running
from agenttasks.core.queue_view import ReleaseLog
from agenttasks.core.slots import SlotLedger

log = logging.getLogger("agenttasks.slots")


class SlotKeeper:
    def __init__(self, limits: Limits, aging: Aging | None, wake: Callable[[Key], None],
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.limits, self.aging, self.wake, self.clock = limits, aging, wake, clock
        self.ledger = SlotLedger(limits, aging)
        self.releases = ReleaseLog(clock())  # the visible queue's observed throughput
        self._active = False  # grants only while this replica acts (peering)
        self._pass_scheduled = False

    # --- facts, from the informers and the runtime ------------------------------------------
    def job_changed(self, namespace: str, task: str, job: JobFacts) -> None:
        before = self.ledger.in_use
        self.ledger.job(namespace, task, job)
        self._released(before)

    def job_gone(self, namespace: str, name: str) -> None:
        before = self.ledger.in_use
        self.ledger.job_gone(namespace, name)
        self._released(before)

    def _released(self, before: int) -> None:
        after = self.ledger.in_use
        if after < before:
            self.releases.record(self.clock(), before - after)
            # a slot is free: in all, in its namespace and for its key
            self.kick()

    def listed(self, task_keys: Iterable[Key]) -> None:
        """Every informer has listed once: the Jobs that exist are known, and the first
        pass waits until each listed task has been looked at."""
        self.ledger.jobs_listed()
        self.ledger.tasks_listed(task_keys)
        self._after_seen()

    def seen(self, key: Key) -> None:
        """A reconcile has looked at ``key`` (and offered it, if it is ready)."""
        was_ready = self.ledger.ready
        self.ledger.seen(key)
        if not was_ready:
            self._after_seen()

    def activate(self) -> None:
        """This replica acts from now on. Grants made before a pause may no longer fit
        what the other replica started meanwhile: those without a request are dropped."""
        self.ledger.drop_unsent()
        self._active = True
        self.kick()

    def deactivate(self) -> None:
        self._active = False

    # --- wishes, from reconcilers -------------------------------------------------------------
    def offer(self, candidate: Candidate) -> bool:
        """A ready task asks for a slot; True if it holds a grant now. The offering task is
        not woken for its own grant: its pass, still running, starts it at once."""
        key = candidate.key
        if self.ledger.has_grant(key):
            return True
        self.ledger.want(candidate)
        if self.limits.max_running and self.ledger.in_use >= self.limits.max_running:
            return False  # full: nothing can be granted, skip the ordering work
        if self.ledger.blocked(candidate):
            # Its namespace or key is full. Every slot that freed ran a pass already, so
            # this offer could only have granted itself: skip the ordering work.
            return False
        self._grant_pass(offering=key)
        return self.ledger.has_grant(key)

    def withdraw(self, key: Key) -> None:
        """The task no longer waits (started, paused, cancelled, deleted, terminal)."""
        had = self.ledger.has_grant(key)
        self.ledger.withdraw(key)
        if had and not self.ledger.has_grant(key):
            self.kick()

    def sent(self, key: Key, job_name: str) -> None:
        """A create or resume of ``job_name`` is about to be sent under key's grant."""
        self.ledger.sent(key, job_name)

    def release(self, key: Key) -> None:
        """No Job exists under key's grant (refused, or a read found none)."""
        if self.ledger.has_grant(key):
            self.ledger.release(key)
            self.kick()

    # --- reading ------------------------------------------------------------------------------
    def granted_at(self, key: Key) -> datetime | None:
        return self.ledger.granted_at(key)

    def awaited_job(self, key: Key) -> str | None:
        return self.ledger.awaited_job(key)

    def running(self) -> Running:
        return self.ledger.running()

    def waiting_count(self) -> int:
        return len(self.ledger.waiting())

    def queue_message(self, candidate: Candidate) -> str:
        """Why ``candidate`` waits: capacity, its namespace's limit or share, its key."""
        if not self.ledger.ready:
            return "waiting for capacity (the operator is reading the queue after a start)"
        return self.ledger.wait_message(candidate)

    def plan(self) -> list[Placement]:
        """The waiting tasks in grant order, and why each waits (core.queue.queue_plan)."""
        return self.ledger.plan(self.clock())

    # --- passes -------------------------------------------------------------------------------
    def kick(self) -> None:
        """Schedules one grant pass soon; many kicks in one loop turn make one pass."""
        if self._pass_scheduled or not self.ledger.anyone_waiting:
            return
        self._pass_scheduled = True
        asyncio.get_running_loop().call_soon(self._scheduled_pass)

    def _scheduled_pass(self) -> None:
        self._pass_scheduled = False
        self._grant_pass()

    def _after_seen(self) -> None:
        if self.ledger.ready:
            log.info("initial view complete; granting by priority")
            self._grant_pass()
            for waiting in self.ledger.waiting():  # refresh their queue messages
                self.wake(waiting.key)

    def _grant_pass(self, offering: Key | None = None) -> None:
        if not self._active:
            return
        for key in self.ledger.grant(self.clock()):
            metrics.GRANTS.inc()
            if key != offering:
                self.wake(key)
