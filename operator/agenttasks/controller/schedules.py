"""Reconciles one AgentTaskSchedule: gathers facts, asks core.schedule, applies the decision."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from agenttasks import metrics
from agenttasks.api.meta import Key
from agenttasks.api.timefmt import utcnow
from agenttasks.core.actions import Emit
from agenttasks.core.plans import Plan, refusal
from agenttasks.core.schedule import (
    CancelTask,
    CreateTask,
    DeleteTask,
    ScheduleDecision,
    ScheduleFacts,
    decide_schedule,
)
from agenttasks.kube.client import ApiError, Kube
from agenttasks.manifests.owners import controller_uid
from agenttasks.manifests.schedules import build_task
from agenttasks.manifests.tasks import status_patch

from . import failpoints
from .events import EventRecorder
from .schedule_view import ScheduleView
from .timers import WakeUps

log = logging.getLogger("agenttasks.schedules")


class ScheduleReconciler:
    def __init__(self, kube: Kube, view: ScheduleView, wakeups: WakeUps, events: EventRecorder,
                 plan: Plan, clock: Callable[[], datetime] = utcnow) -> None:
        self.kube, self.view, self.wakeups, self.plan, self.clock = kube, view, wakeups, plan, clock
        self.events = events

    async def reconcile(self, key: Key) -> None:
        schedule = self.view.schedule(key)
        if schedule is None:
            self.wakeups.forget(key)
            return
        decision = decide_schedule(schedule, self.view.children(key), self.clock(),
                                   refusal(self.plan, "AgentTaskSchedule"))
        emits = [a for a in decision.actions if isinstance(a, Emit)]
        for action in decision.actions:
            if isinstance(action, CreateTask):
                emits += await self._create(schedule, action)
            elif isinstance(action, CancelTask):
                await self._cancel(schedule, action.name)
            elif isinstance(action, DeleteTask):
                await self.kube.delete_object("agenttasks", schedule.namespace, action.name)
                log.info("deleted AgentTask %s/%s (history limit)", schedule.namespace,
                         action.name)
        await self._write_status(schedule, decision)
        for event in emits:
            self._emit(schedule, event)
        self.wakeups.at(key, decision.wake_at)

    async def _create(self, schedule: ScheduleFacts, action: CreateTask) -> list[Emit]:
        """Creates the fire's task, or adopts it when an earlier run already did."""
        try:
            await self.kube.create_object("agenttasks", build_task(schedule, action))
            failpoints.hit("after-task-create")
            log.info("created AgentTask %s/%s", schedule.namespace, action.name)
        except ApiError as exc:
            if exc.invalid:
                return [Emit("Warning", "TaskCreateFailed",
                             f"the API server refused AgentTask {action.name}: {exc.message}")]
            if not exc.conflict:
                raise
            existing = await self.kube.get_object("agenttasks", schedule.namespace, action.name)
            if existing is None:
                raise
            if controller_uid(existing) != schedule.uid:
                return [Emit("Warning", "TaskCreateFailed", f"an AgentTask named {action.name} "
                             "already exists and does not belong to this schedule")]
            log.info("adopted existing AgentTask %s/%s", schedule.namespace, action.name)
        now = self.clock()
        self.view.expect_child(schedule.key, schedule.uid, action.name, now)
        if action.scheduled_time is not None:
            metrics.SCHEDULE_FIRE_LAG.observe((now - action.scheduled_time).total_seconds())
        return []

    async def _cancel(self, schedule: ScheduleFacts, name: str) -> None:
        # The tasks a schedule created are its own: setting spec.cancelled on them is the
        # schedule acting as their author, not the operator editing a user's object.
        try:
            await self.kube.patch_object("agenttasks", schedule.namespace, name,
                                         {"spec": {"cancelled": True}})
        except ApiError as exc:
            if not exc.not_found:
                raise

    async def _write_status(self, schedule: ScheduleFacts, decision: ScheduleDecision) -> None:
        patch = status_patch(schedule.status, decision.status)
        if patch is None:
            return
        result = await self.kube.patch_status("agenttaskschedules", schedule.namespace,
                                              schedule.name, patch)
        self.view.remember_status(schedule.key, result["metadata"]["resourceVersion"],
                                  decision.status)

    def _emit(self, schedule: ScheduleFacts, event: Emit) -> None:
        self.events.record("AgentTaskSchedule", schedule.namespace, schedule.name,
                           schedule.uid, event)
