"""The AgentTaskSchedule decision: (schedule, its tasks, now) → status, actions, wake-up.

Exactly-once comes from two facts kept in the cluster: a fire's task name is derived from
its scheduled time, and status records the newest fire handled. A crash between creating
the task and writing status makes the next decision create the same name again, which the
API server refuses and the shell adopts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from agenttasks.api.duration import format_duration
from agenttasks.api.schedule import (
    AgentTaskScheduleSpec,
    AgentTaskScheduleStatus,
    ConcurrencyPolicy,
    ScheduleReason,
)
from agenttasks.api.task import Phase
from agenttasks.core.actions import Emit
from agenttasks.core.conditions import set_condition
from agenttasks.core.cron import Cron, ScheduleError, parse
from agenttasks.core.lifecycle import whole_seconds
from agenttasks.core.naming import manual_task_name, scheduled_task_name

MISSED_CAP = 1000  # Counting missed fires stops here ("at least 1000").


@dataclass(frozen=True)
class ScheduleFacts:
    namespace: str
    name: str
    uid: str
    generation: int
    created: datetime
    spec: AgentTaskScheduleSpec | None
    status: AgentTaskScheduleStatus
    spec_error: str | None = None
    run_now_token: str | None = None
    resource_version: str = ""
    # The taskTemplate exactly as written, so created tasks carry what the user wrote.
    task_template: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


@dataclass(frozen=True, slots=True)
class ChildFacts:
    """One AgentTask created by a schedule."""

    name: str
    owner_uid: str | None
    created: datetime
    phase: str | None
    terminal: bool
    scheduled_time: datetime | None = None
    completion_time: datetime | None = None
    cancel_requested: bool = False

    @property
    def ordering(self) -> datetime:
        return self.scheduled_time or self.created


@dataclass(frozen=True)
class CreateTask:
    name: str
    scheduled_time: datetime | None = None
    run_now_token: str | None = None


@dataclass(frozen=True)
class CancelTask:
    name: str


@dataclass(frozen=True)
class DeleteTask:
    name: str


ScheduleAction = CreateTask | CancelTask | DeleteTask | Emit


@dataclass(frozen=True)
class ScheduleDecision:
    status: AgentTaskScheduleStatus
    actions: tuple[ScheduleAction, ...] = ()
    wake_at: datetime | None = None


@dataclass
class _Draft:
    status: AgentTaskScheduleStatus
    actions: list[ScheduleAction] = field(default_factory=list)

    def emit(self, kind: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        self.actions.append(Emit(kind, reason, message))


def decide_schedule(schedule: ScheduleFacts, children: list[ChildFacts], now: datetime,
                    plan_refusal: str | None = None) -> ScheduleDecision:
    now = whole_seconds(now)
    owned = [c for c in children if c.owner_uid == schedule.uid]
    previous = schedule.status
    draft = _Draft(previous.model_copy(update={"observed_generation": schedule.generation}))
    active = {c.name for c in owned if not c.terminal}

    refusal, cron = _refusal(schedule, plan_refusal)
    if refusal is not None:
        reason, message = refusal
        _ready(draft, schedule, "False", reason, message, now)
        draft.status.next_schedule_time = None
    elif schedule.spec is not None and cron is not None:
        active |= _run_now(draft, schedule)
        if schedule.spec.suspend:
            _ready(draft, schedule, "True", ScheduleReason.SUSPENDED,
                   "spec.suspend is true: no fires until it is false", now)
            draft.status.next_schedule_time = None
        else:
            active = _fire(draft, schedule, schedule.spec, cron, owned, active, now)
    if plan_refusal is None and schedule.spec is not None:
        _collect_history(draft, schedule.spec, owned)
    draft.status.active = sorted(active)
    draft.status.last_successful_time = _last_success(previous, owned)
    return ScheduleDecision(draft.status, tuple(draft.actions),
                            wake_at=draft.status.next_schedule_time)


def _refusal(schedule: ScheduleFacts,
             plan_refusal: str | None) -> tuple[tuple[str, str] | None, Cron | None]:
    if plan_refusal is not None:
        return (ScheduleReason.PLAN_RESTRICTED, plan_refusal), None
    if schedule.spec is None:
        return (ScheduleReason.INVALID_SCHEDULE, f"the spec is invalid: {schedule.spec_error}"), \
            None
    try:
        return None, parse(schedule.spec.schedule, schedule.spec.time_zone)
    except ScheduleError as exc:
        return (ScheduleReason.INVALID_SCHEDULE, str(exc)), None


def _ready(draft: _Draft, schedule: ScheduleFacts, status: str, reason: str, message: str,
           now: datetime) -> None:
    old = next((c for c in draft.status.conditions if c.type == "Ready"), None)
    if status == "False" and (old is None or (old.reason, old.message) != (reason, message)):
        draft.emit("Warning", reason, message)
    conditions = set_condition(draft.status.conditions, "Ready", status, reason, message,
                               schedule.generation, now)
    # kstatus (Flux) reads Stalled, not Ready: a schedule that cannot fire is stalled.
    draft.status.conditions = set_condition(conditions, "Stalled",
                                            "True" if status == "False" else "False", reason,
                                            message, schedule.generation, now)


def _run_now(draft: _Draft, schedule: ScheduleFacts) -> set[str]:
    token = schedule.run_now_token
    if not token or token == schedule.status.last_run_now_token:
        return set()
    name = manual_task_name(schedule.name, token)
    draft.actions.append(CreateTask(name, run_now_token=token))
    draft.emit("Normal", ScheduleReason.RUN_NOW, f"created AgentTask {name} for run-now "
               f"token {token!r}")
    draft.status.last_run_now_token = token
    return {name}


def _fire(draft: _Draft, schedule: ScheduleFacts, spec: AgentTaskScheduleSpec, cron: Cron,
          owned: list[ChildFacts], active: set[str], now: datetime) -> set[str]:
    status = draft.status
    was_ready = next((c for c in schedule.status.conditions if c.type == "Ready"), None)
    if was_ready is not None and (was_ready.status != "True" or
                                  was_ready.reason == ScheduleReason.SUSPENDED):
        # Back from suspended or invalid: what fell due meanwhile is not run.
        status.resumed_time = now
    _ready(draft, schedule, "True", ScheduleReason.SCHEDULED,
           f"fires on {spec.schedule!r} in {spec.time_zone}", now)
    base = max(t for t in (schedule.created, status.last_schedule_time,
                           status.last_skipped_time, status.resumed_time) if t is not None)
    due = cron.latest_at_or_before(now)
    status.next_schedule_time = cron.next_after(now)
    if due is None or due <= base:
        return active

    missed = cron.count_between(base, due, MISSED_CAP) - 1
    late = now - due
    skip: str | None = None
    if spec.starting_deadline is not None and late > spec.starting_deadline:
        skip = f"the fire at {due.isoformat()} is {format_duration(late)} late, more than " \
            f"startingDeadline {format_duration(spec.starting_deadline)}"
        missed += 1
    elif spec.concurrency_policy == ConcurrencyPolicy.FORBID and active:
        skip = f"concurrencyPolicy is Forbid and {', '.join(sorted(active))} is still running"

    if missed > 0:
        count = f"at least {missed}" if missed >= MISSED_CAP - 1 else str(missed)
        status.missed_fires = missed
        draft.emit("Warning", ScheduleReason.MISSED_FIRES,
                   f"{count} fire(s) before {due.isoformat()} were missed while the operator "
                   "was not running; only the most recent is considered")
    if skip is not None:
        status.last_skipped_time = due
        draft.emit("Warning", ScheduleReason.FIRE_SKIPPED, f"skipped: {skip}")
        return active

    name = scheduled_task_name(schedule.name, due)
    if spec.concurrency_policy == ConcurrencyPolicy.REPLACE and active:
        for old in sorted(active):
            draft.actions.append(CancelTask(old))
        draft.emit("Normal", ScheduleReason.TASK_REPLACED,
                   f"cancelled {', '.join(sorted(active))} to start {name}")
    # No Event for a routine fire: status.active and lastScheduleTime record it (an Event is a
    # write, and is kept for what a person must look at).
    draft.actions.append(CreateTask(name, scheduled_time=due))
    status.last_schedule_time = due
    return active | {name}


def _collect_history(draft: _Draft, spec: AgentTaskScheduleSpec,
                     owned: list[ChildFacts]) -> None:
    finished = sorted((c for c in owned if c.terminal), key=lambda c: c.ordering, reverse=True)
    succeeded = [c for c in finished if c.phase == Phase.COMPLETED]
    failed = [c for c in finished if c.phase != Phase.COMPLETED]
    for old in succeeded[spec.successful_tasks_history_limit:] + \
            failed[spec.failed_tasks_history_limit:]:
        draft.actions.append(DeleteTask(old.name))


def _last_success(previous: AgentTaskScheduleStatus,
                  owned: list[ChildFacts]) -> datetime | None:
    times = [c.completion_time for c in owned
             if c.phase == Phase.COMPLETED and c.completion_time is not None]
    if previous.last_successful_time is not None:
        times.append(previous.last_successful_time)
    return max(times) if times else None
