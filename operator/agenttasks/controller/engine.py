"""The engine: the views the informers fill, one work queue and one wake-up heap per kind,
the slot keeper, the three reconcilers and leadership; and the lanes that run them.

app.py builds it with the parts it shares with the HTTP side (the client, the inboxes and the
Secret cache); nothing here knows that side exists."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from agenttasks import metrics
from agenttasks.api.meta import Key
from agenttasks.api.timefmt import utcnow
from agenttasks.core.privilege import OperatorIdentity
from agenttasks.core.triggers import TriggerFacts
from agenttasks.inbox.agent_reports import ProgressInbox
from agenttasks.inbox.delivery_counts import DeliveryCounts
from agenttasks.kube.client import Kube
from agenttasks.kube.secrets import SecretCache
from agenttasks.kube.watching import Informer
from agenttasks.manifests.progress_token import ProgressWiring

from .events import EventRecorder
from .leadership import Leadership
from .overlay import OverlaidIndex
from .reconciler import TaskReconciler
from .schedule_view import ScheduleView
from .schedules import ScheduleReconciler
from .settings import OperatorSettings
from .slot_keeper import SlotKeeper
from .task_view import TaskView
from .timers import WakeUps
from .triggers import TriggerReconciler
from .workqueue import WorkQueue

log = logging.getLogger("agenttasks.runtime")
RETRY_DELAYS = (0.5, 1, 2, 5, 10, 30, 60)
SLOW_RECONCILE_S = 1.0
# Many schedules fire in the same second; their reconciles mostly wait on the API server,
# so more of them in flight is what keeps the fire lag short.
SCHEDULE_WORKERS_FACTOR = 4
# Task workers that take only urgent keys (granted slots): a start never waits behind the
# routine passes, whose workers may all be waiting on API writes.
START_WORKERS = 2


@dataclass
class Engine:
    settings: OperatorSettings
    kube: Kube
    secrets: SecretCache
    reports: ProgressInbox = field(default_factory=ProgressInbox)
    counts: DeliveryCounts = field(default_factory=DeliveryCounts)
    view: TaskView = field(default_factory=TaskView)
    queue: WorkQueue[Key] = field(default_factory=WorkQueue)
    schedule_view: ScheduleView = field(default_factory=ScheduleView)
    schedule_queue: WorkQueue[Key] = field(default_factory=WorkQueue)
    trigger_index: OverlaidIndex[TriggerFacts] = field(default_factory=OverlaidIndex)
    trigger_queue: WorkQueue[Key] = field(default_factory=WorkQueue)
    identity: OperatorIdentity = field(default_factory=OperatorIdentity)
    """Who the operator runs as (app.py asks the API server at start-up)."""

    def __post_init__(self) -> None:
        # Set once every informer has listed: no reconcile runs on a partial view.
        self.synced = asyncio.Event()
        self.leadership = Leadership(self.kube, self.settings, self._on_activate,
                                     self._on_pause)
        metrics.STATE.provider = self.snapshot
        self.wakeups = WakeUps(lambda key: self.queue.add(key))  # type: ignore[arg-type]
        self.slots = SlotKeeper(self.settings.limits, self.settings.aging,
                                lambda key: self.queue.add(key, urgent=True))
        self.events = EventRecorder(self.kube)
        self.reports.wake = self._report_arrived
        progress = ProgressWiring(self.settings.progress_url, self.settings.progress_audience) \
            if self.settings.progress_url else None
        self.tasks = TaskReconciler(self.kube, self.view, self.wakeups, self.slots,
                                    self.events, self.settings.plan, progress, self.reports,
                                    again=self.queue.add, identity=self.identity,
                                    default_ttl=self.settings.default_ttl_after_finished)
        # One wake-up heap for every schedule's next fire.
        self.schedule_wakeups = WakeUps(
            lambda key: self.schedule_queue.add(key))  # type: ignore[arg-type]
        self.schedules = ScheduleReconciler(self.kube, self.schedule_view,
                                            self.schedule_wakeups, self.events,
                                            self.settings.plan)
        self.trigger_wakeups = WakeUps(
            lambda key: self.trigger_queue.add(key))  # type: ignore[arg-type]
        self.triggers = TriggerReconciler(self.kube, self.trigger_index, self.secrets,
                                          self.trigger_wakeups, self.events, self.counts)

    def _report_arrived(self, key: Key, delay: float) -> None:
        """An agent's report may be written in ``delay`` seconds, by the task's reconciler."""
        if delay <= 0:
            self.queue.add(key)
        else:
            self.wakeups.soon(key, utcnow() + timedelta(seconds=delay))

    def ready(self) -> bool:
        """Every informer has listed, and this replica acts: a standby is not Ready, so the
        Service sends webhook deliveries and dashboard users to the active replica only."""
        return self.synced.is_set() and self.leadership.active.is_set()

    def snapshot(self) -> metrics.StateSnapshot:
        by_phase: dict[tuple[str, str], int] = {}
        for key in self.view.task_keys():
            phase = (key[0], str(self.view.phase(key) or "Pending"))
            by_phase[phase] = by_phase.get(phase, 0) + 1
        return metrics.StateSnapshot(by_phase, self.slots.waiting_count(),
                                     self.slots.running().total)

    async def _on_activate(self) -> None:
        """Before acting as the active replica. The informers kept the view, hence the slot
        ledger, current while this replica waited, so nothing is listed again here."""
        self.slots.activate()

    def _on_pause(self) -> None:
        self.slots.deactivate()

    async def _sync(self, informers: Sequence[Informer]) -> None:
        await asyncio.gather(*(informer.synced.wait() for informer in informers))
        self.view.complete = True
        self.slots.listed(self.view.task_keys())
        self.synced.set()
        log.info("initial listings complete: %d tasks, %d schedules, %d triggers",
                 len(self.view.task_keys()), len(self.schedule_view.keys()),
                 len(self.trigger_index.keys()))

    async def run(self, informers: Sequence[Informer]) -> None:
        lanes = [
            _Lane("AgentTask", self.queue, self.tasks.reconcile, self.wakeups,
                  self.leadership.active, self.synced),
            _Lane("AgentTaskSchedule", self.schedule_queue, self.schedules.reconcile,
                  self.schedule_wakeups, self.leadership.active, self.synced),
            _Lane("AgentTaskTrigger", self.trigger_queue, self.triggers.reconcile,
                  self.trigger_wakeups, self.leadership.active, self.synced),
        ]
        counts = (self.settings.workers, self.settings.workers * SCHEDULE_WORKERS_FACTOR,
                  self.settings.workers)
        workers = [asyncio.create_task(lane.work())
                   for lane, count in zip(lanes, counts, strict=True) for _ in range(count)]
        workers += [asyncio.create_task(lanes[0].work(urgent_only=True))
                    for _ in range(START_WORKERS)]
        try:
            await asyncio.gather(self.events.run(), self._sync(informers),
                                 *(informer.run() for informer in informers),
                                 self.leadership.run(),
                                 *(lane.wakeups.run() for lane in lanes), *workers)
        finally:
            for worker in workers:
                worker.cancel()


@dataclass
class _Lane:
    """One kind's work queue, its reconcile and the wake-ups that retry failures."""

    kind: str
    queue: WorkQueue[Key]
    reconcile: Callable[[Key], Awaitable[None]]
    wakeups: WakeUps
    active: asyncio.Event
    synced: asyncio.Event
    failures: dict[Key, int] = field(default_factory=dict)

    async def work(self, urgent_only: bool = False) -> None:
        await self.synced.wait()
        while True:
            await self.active.wait()  # a paused replica keeps its queue and acts later
            key = await (self.queue.get_urgent() if urgent_only else self.queue.get())
            started = time.monotonic()
            try:
                await self.reconcile(key)
                took = time.monotonic() - started
                if took > SLOW_RECONCILE_S:
                    log.info("reconciling %s %s/%s took %.1fs", self.kind, *key, took)
                self.failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # One bad object must never stop the others.
                count = self.failures.get(key, 0)
                self.failures[key] = count + 1
                delay = RETRY_DELAYS[min(count, len(RETRY_DELAYS) - 1)]
                log.warning("reconciling %s %s/%s failed (%s); retrying in %ss", self.kind,
                            *key, exc, delay, exc_info=count >= 3)
                self.wakeups.at(key, utcnow() + timedelta(seconds=delay))
            finally:
                self.queue.done(key)
