"""Wires the operator's parts together (the factory): view, queue, wake-ups, reconcilers."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from agenttasks.kube.client import Kube

from .dispatcher import Dispatcher
from .reconciler import TaskReconciler
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
    failures: dict[Key, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.wakeups = WakeUps(lambda key: self.queue.add(key))  # type: ignore[arg-type]
        self.dispatcher = Dispatcher(self.view, self.settings.limits, self.settings.aging,
                                     lambda key: self.queue.add(key, urgent=True))
        self.tasks = TaskReconciler(self.kube, self.view, self.wakeups, self.dispatcher,
                                    self.settings.plan)

    async def run(self) -> None:
        workers = [asyncio.create_task(self._worker()) for _ in range(self.settings.workers)]
        try:
            await asyncio.gather(self.wakeups.run(), *workers)
        finally:
            for worker in workers:
                worker.cancel()

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            started = time.monotonic()
            try:
                await self.tasks.reconcile(key)
                took = time.monotonic() - started
                if took > SLOW_RECONCILE_S:
                    log.info("reconciling %s/%s took %.1fs", *key, took)
                self.failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # One bad object must never stop the others.
                count = self.failures.get(key, 0)
                self.failures[key] = count + 1
                delay = RETRY_DELAYS[min(count, len(RETRY_DELAYS) - 1)]
                log.warning("reconciling %s/%s failed (%s); retrying in %ss", *key, exc, delay,
                            exc_info=count >= 3)
                self.wakeups.at(key, self.tasks.clock() + timedelta(seconds=delay))
            finally:
                self.queue.done(key)
