"""The one dispatcher: holds the ready tasks waiting for a slot and grants slots with
core.queue.admit. Running counts come from the Jobs that exist (the informers' index,
complete before any reconcile runs), plus slots granted whose Job is not visible yet."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from agenttasks import metrics
from agenttasks.core.facts import JobFacts
from agenttasks.core.queue import Aging, Candidate, Limits, Running, admit, wait_message
from agenttasks.kube.timefmt import utcnow

from .view import ClusterView, Key

log = logging.getLogger("agenttasks.dispatcher")


def occupies_slot(jobs: list[JobFacts]) -> bool:
    """A task holds a slot while the Job of its latest attempt runs (not suspended)."""
    if not jobs:
        return False
    latest = max(jobs, key=lambda j: j.attempt)
    return not latest.finished and not latest.suspended and not latest.deleting


class Dispatcher:
    def __init__(self, view: ClusterView, limits: Limits, aging: Aging | None,
                 wake: Callable[[Key], None], clock: Callable[[], datetime] = utcnow) -> None:
        self.view, self.limits, self.aging, self.wake, self.clock = view, limits, aging, wake, clock
        self.waiting: dict[Key, Candidate] = {}
        self.granted: dict[Key, datetime] = {}
        self._active: set[Key] = set()
        self._scanned = False
        # Tasks in the index at start-up that no reconcile has looked at yet. No slot is
        # granted before they all have, so start-up admits by priority from the full view.
        self._unseen: set[Key] = set()
        self._pass_scheduled = False

    # --- running counts ---------------------------------------------------------------------
    def _ensure_scanned(self) -> None:
        # Once, after the indexes are complete: every running Job counts from the start,
        # so a restart never over-admits.
        if not self._scanned and self.view.complete:
            self._scanned = True
            self._unseen = set(self.view.task_keys())
            for key in self.view.job_keys():
                self.observe(key)

    def resync(self, running: set[Key]) -> None:
        """Running counts from a fresh listing: a replica taking over must not count from
        indexes that stood still while it was paused."""
        self._scanned = True
        self._active = set(running)
        self.granted.clear()

    def seen(self, key: Key) -> None:
        """A reconcile has looked at ``key`` (and offered it, if it is ready)."""
        self._ensure_scanned()
        if self._unseen:
            self._unseen.discard(key)
            if not self._unseen:
                log.info("initial view complete; admitting by priority")
                self._dispatch(self.running())
                for waiting in list(self.waiting):  # refresh their queue messages
                    self.wake(waiting)

    def observe(self, key: Key) -> None:
        """Called on every Job event of ``key``: updates whether it holds a slot."""
        was = key in self._active
        now = occupies_slot(self.view.jobs(key))
        if now:
            self._active.add(key)
            self.granted.pop(key, None)  # the granted slot is now visible as a Job
        else:
            self._active.discard(key)
        if was and not now:
            self.kick()

    def running(self) -> Running:
        self._ensure_scanned()
        by_ns: dict[str, int] = {}
        for ns, _ in (*self._active, *self.granted):
            by_ns[ns] = by_ns.get(ns, 0) + 1
        return Running(total=len(self._active) + len(self.granted), by_namespace=by_ns)

    # --- requests from reconcilers ------------------------------------------------------------
    def has_grant(self, key: Key) -> bool:
        return key in self.granted

    def queue_message(self, namespace: str) -> str:
        running = self.running()
        if self._unseen:
            return "waiting for capacity (the operator is reading the queue after a start)"
        return wait_message(namespace, running, self.limits)

    def offer(self, candidate: Candidate) -> bool:
        """A ready task asks for a slot; True if it may start now."""
        key = candidate.key
        if key in self.granted:
            return True
        self.waiting[key] = candidate
        running = self.running()
        if self._unseen:
            return False
        if self.limits.max_running and running.total >= self.limits.max_running:
            return False  # full: nothing can be admitted, skip the ordering work
        self._dispatch(running)
        return key in self.granted

    def withdraw(self, key: Key) -> None:
        """The task no longer waits (started, paused, cancelled, deleted, terminal)."""
        self.waiting.pop(key, None)
        if self.granted.pop(key, None) is not None:
            self.kick()

    def started(self, key: Key) -> None:
        """Its Job was created; the grant stays until the Job shows in the index."""
        self.waiting.pop(key, None)

    # --- passes -------------------------------------------------------------------------------
    def kick(self) -> None:
        """Schedules one dispatch pass soon; many kicks in one loop turn make one pass."""
        if self._pass_scheduled or not self.waiting:
            return
        self._pass_scheduled = True
        asyncio.get_running_loop().call_soon(self._scheduled_pass)

    def _scheduled_pass(self) -> None:
        self._pass_scheduled = False
        if not self._unseen:
            self._dispatch(self.running())

    def _dispatch(self, running: Running) -> None:
        now = self.clock()
        for candidate in admit(self.waiting.values(), running, self.limits, now, self.aging):
            key = candidate.key
            del self.waiting[key]
            self.granted[key] = now
            metrics.ADMISSIONS.inc()
            self.wake(key)
