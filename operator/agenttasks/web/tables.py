"""The dashboard's rows, from the operator's in-memory facts: plain data, filtered and sorted
by pure functions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from agenttasks.api.task import Phase
from agenttasks.core.facts import TaskSummary
from agenttasks.core.schedule import ChildFacts, ScheduleFacts
from agenttasks.core.triggers import TriggerFacts

PHASES = tuple(p.value for p in Phase)
MAX_ROWS = 500


@dataclass(frozen=True)
class TaskRow:
    namespace: str
    name: str
    display_name: str
    phase: str
    reason: str
    message: str
    attempts: int
    percent: int | None
    progress_message: str
    created: datetime
    paused: bool
    terminal: bool


def task_row(facts: TaskSummary) -> TaskRow:
    return TaskRow(
        namespace=facts.namespace, name=facts.name, display_name=facts.display_name,
        phase=str(facts.phase or Phase.PENDING), reason=facts.reason or "",
        message=facts.message, attempts=facts.attempts, percent=facts.percent,
        progress_message=facts.progress_message, created=facts.created, paused=facts.paused,
        terminal=facts.terminal)


def visible(namespace: str, scope: frozenset[str] | None) -> bool:
    """Whether a namespace is in the scope a user may read (None: every namespace)."""
    return scope is None or namespace in scope


def filter_tasks(rows: Iterable[TaskRow], scope: frozenset[str] | None, namespace: str = "",
                 phase: str = "") -> list[TaskRow]:
    """The rows a user may see that match the filters, newest first."""
    chosen = [r for r in rows if visible(r.namespace, scope)
              and (not namespace or r.namespace == namespace)
              and (not phase or r.phase == phase)]
    return sorted(chosen, key=lambda r: (-r.created.timestamp(), r.namespace, r.name))


@dataclass(frozen=True)
class RunRow:
    name: str
    phase: str
    when: datetime


@dataclass(frozen=True)
class ScheduleRow:
    namespace: str
    name: str
    schedule: str
    time_zone: str
    suspended: bool
    ready: str
    next_fire: datetime | None
    last_schedule: datetime | None
    last_success: datetime | None
    active: int
    runs: tuple[RunRow, ...]


def schedule_row(facts: ScheduleFacts, children: Iterable[ChildFacts], runs: int = 5
                 ) -> ScheduleRow:
    spec, status = facts.spec, facts.status
    ready = next((c for c in status.conditions if c.type == "Ready"), None)
    newest = sorted(children, key=lambda c: (c.ordering, c.name), reverse=True)[:runs]
    return ScheduleRow(
        namespace=facts.namespace, name=facts.name,
        schedule=spec.schedule if spec else "", time_zone=spec.time_zone if spec else "",
        suspended=bool(spec and spec.suspend),
        ready=f"{ready.status}/{ready.reason}" if ready else "",
        next_fire=status.next_schedule_time, last_schedule=status.last_schedule_time,
        last_success=status.last_successful_time, active=len(status.active),
        runs=tuple(RunRow(c.name, c.phase or "Pending", c.ordering) for c in newest))


@dataclass(frozen=True)
class TriggerRow:
    namespace: str
    name: str
    url: str
    signature: str
    ready: str
    accepted: int
    duplicate: int
    rejected: int
    last_triggered: datetime | None


def trigger_row(facts: TriggerFacts) -> TriggerRow:
    status = facts.status
    ready = next((c for c in status.conditions if c.type == "Ready"), None)
    return TriggerRow(
        namespace=facts.namespace, name=facts.name, url=status.url or facts.url,
        signature=str(facts.spec.signature) if facts.spec else "",
        ready=f"{ready.status}/{ready.reason}" if ready else "",
        accepted=status.deliveries.accepted, duplicate=status.deliveries.duplicate,
        rejected=status.deliveries.rejected, last_triggered=status.last_triggered_time)


class _Named(Protocol):
    @property
    def namespace(self) -> str: ...

    @property
    def name(self) -> str: ...


R = TypeVar("R", bound=_Named)


def in_scope(rows: Iterable[R], scope: frozenset[str] | None, namespace: str = "") -> list[R]:
    """The rows a user may see in the chosen namespace (all, without one), by name."""
    chosen = [r for r in rows if visible(r.namespace, scope)
              and (not namespace or r.namespace == namespace)]
    return sorted(chosen, key=lambda r: (r.namespace, r.name))
