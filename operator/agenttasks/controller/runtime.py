"""Wires the operator's parts together (the factory): view, queue, wake-ups, reconcilers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from agenttasks.kube.client import Kube
from agenttasks.kube.timefmt import utcnow

from .dispatcher import Dispatcher
from .reconciler import TaskReconciler
from .schedule_view import ScheduleView
from .schedules import ScheduleReconciler
from .settings import OperatorSettings
from .timers import WakeUps
from .view import ClusterView, Key
from .workqueue import WorkQueue

log = logging.getLogger("agenttasks.runtime")
RETRY_DELAYS = (0.5, 1, 2, 5, 10, 30, 60)
SLOW_RECONCILE_S = 1.0


@dataclass
class Runtime:
    settings: OperatorSettings
    kube: Kube
    view: ClusterView = field(default_factory=ClusterView)
    queue: WorkQueue[Key] = field(default_factory=WorkQueue)
    schedule_view: ScheduleView = field(default_factory=ScheduleView)
    schedule_queue: WorkQueue[Key] = field(default_factory=WorkQueue)

    def __post_init__(self) -> None:
        self.wakeups = WakeUps(lambda key: self.queue.add(key))  # type: ignore[arg-type]
        self.dispatcher = Dispatcher(self.view, self.settings.limits, self.settings.aging,
                                     lambda key: self.queue.add(key, urgent=True))
        self.tasks = TaskReconciler(self.kube, self.view, self.wakeups, self.dispatcher,
                                    self.settings.plan)
        # One wake-up heap for every schedule's next fire.
        self.schedule_wakeups = WakeUps(
            lambda key: self.schedule_queue.add(key))  # type: ignore[arg-type]
        self.schedules = ScheduleReconciler(self.kube, self.schedule_view,
                                            self.schedule_wakeups, self.settings.plan)

    async def run(self) -> None:
        lanes = [
            _Lane("AgentTask", self.queue, self.tasks.reconcile, self.wakeups),
            _Lane("AgentTaskSchedule", self.schedule_queue, self.schedules.reconcile,
                  self.schedule_wakeups),
        ]
        workers = [asyncio.create_task(lane.work())
                   for lane in lanes for _ in range(self.settings.workers)]
        try:
            await asyncio.gather(*(lane.wakeups.run() for lane in lanes), *workers)
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
    failures: dict[Key, int] = field(default_factory=dict)

    async def work(self) -> None:
        while True:
            key = await self.queue.get()
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
