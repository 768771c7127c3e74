"""Reconciles one AgentTaskTrigger: checks that it can accept deliveries (its Secret, filter
and params), and writes its status with the delivery counters gathered since the last write.
Deliveries themselves are served by web.hooks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from agenttasks.api.meta import Key
from agenttasks.api.timefmt import utcnow
from agenttasks.core.actions import Emit
from agenttasks.core.triggers import (
    Readiness,
    SecretState,
    TriggerFacts,
    readiness,
    trigger_status,
)
from agenttasks.inbox.delivery_counts import DeliveryCounts
from agenttasks.kube.client import Kube
from agenttasks.kube.secrets import SecretCache
from agenttasks.manifests.tasks import status_patch

from .events import EventRecorder
from .overlay import OverlaidIndex
from .timers import WakeUps

# Secrets are not watched (that would need every Secret's value in memory): a trigger
# re-reads its own through the cache, sooner while it is not ready.
RECHECK_READY = timedelta(seconds=60)
RECHECK_NOT_READY = timedelta(seconds=10)
FLUSH_COUNTS = timedelta(seconds=3)


class TriggerReconciler:
    def __init__(self, kube: Kube, triggers: OverlaidIndex[TriggerFacts], secrets: SecretCache,
                 wakeups: WakeUps, events: EventRecorder, counts: DeliveryCounts,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.kube, self.triggers, self.secrets, self.wakeups = kube, triggers, secrets, wakeups
        self.events, self.counts, self.clock = events, counts, clock
        counts.on_change = lambda key: wakeups.soon(key, self.clock() + FLUSH_COUNTS)

    async def reconcile(self, key: Key) -> None:
        trigger = self.triggers.get(key)
        if trigger is None:
            self.wakeups.forget(key)
            self.counts.take(key)
            return
        ready = await self._readiness(trigger)
        now = self.clock()
        pending = self.counts.take(key)
        status = trigger_status(trigger, ready, pending, now)
        patch = status_patch(trigger.status, status)
        if patch is not None:
            try:
                result = await self.kube.patch_status("agenttasktriggers", trigger.namespace,
                                                      trigger.name, patch)
            except BaseException:
                self.counts.give_back(key, pending)
                raise
            self.triggers.remember_status(key, result["metadata"]["resourceVersion"], status)
        self._announce(trigger, ready)
        self.wakeups.at(key, now + (RECHECK_READY if ready.ready else RECHECK_NOT_READY))

    async def _readiness(self, trigger: TriggerFacts) -> Readiness:
        if trigger.spec is None:
            return readiness(trigger, SecretState.NOT_FOUND, None)
        ref = trigger.spec.secret_ref
        state, value = await self.secrets.value(trigger.namespace, ref.name, ref.key)
        return readiness(trigger, state, value)

    def _announce(self, trigger: TriggerFacts, ready: Readiness) -> None:
        """A Warning Event when the trigger stops accepting deliveries, or why changes."""
        old = next((c for c in trigger.status.conditions if c.type == "Ready"), None)
        if ready.ready or (old and old.status == "False" and old.reason == ready.reason
                           and old.message == ready.message):
            return
        self.events.record("AgentTaskTrigger", trigger.namespace, trigger.name, trigger.uid,
                           Emit("Warning", ready.reason, ready.message))
