"""What the operator knows about a task and its Jobs, gathered by the shell."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from agenttasks.api.task import AgentTaskSpec, AgentTaskStatus, Phase, is_terminal


@dataclass(frozen=True, slots=True)
class ContainerEnd:
    """How one container of a failed pod ended."""

    container: str
    exit_code: int
    reason: str = ""
    """The kubelet's word for it: Error, OOMKilled, ..."""


@dataclass(frozen=True, slots=True)
class FailedPod:
    """One failed pod of an attempt, as the failure rules see it."""

    ends: tuple[ContainerEnd, ...] = ()
    disrupted: bool = False
    """Its DisruptionTarget condition is True: evicted, preempted, or its node was lost."""


@dataclass(frozen=True, slots=True)
class JobFacts:
    """The parts of one attempt's Job that decisions depend on."""

    name: str
    attempt: int
    created: datetime
    owner_uid: str | None = None
    uid: str | None = None
    """The Job's own uid: its pods are read only when they are controlled by it."""
    suspended: bool = False
    active: int = 0
    terminating: int = 0
    """Pods being stopped (status.terminating): a suspended Job holds its slot until 0."""
    succeeded: int = 0
    ready: int = 0
    """status.ready: pods with the Ready condition. Above 0 (or any succeeded) the attempt
    has started (core.start_check)."""
    finishing: bool = False
    """The Job controller has finished pods still to count (status.uncountedTerminatedPods),
    or its SuccessCriteriaMet or FailureTarget condition is True: its counts are about to
    change, or it is about to finish."""
    outcome: Literal["Complete", "Failed"] | None = None
    outcome_reason: str = ""
    outcome_message: str = ""
    finished_at: datetime | None = None
    started_at: datetime | None = None
    """status.startTime: when the Job controller started it; its timeout counts from here."""
    start: StartFacts | None = None
    """The attempt's pods and the Job's FailedCreate Events, read by the shell while the
    attempt has not started and a look is due (core.start_check); None: not read."""
    deleting: bool = False
    termination_message: str | None = None
    """The pod's termination message, read by the shell once the attempt has finished and
    its result is not yet in status; None: not read."""
    completions: int = 1
    completed_indexes: str = ""
    failed_indexes: str = ""
    """status.completedIndexes and status.failedIndexes of an Indexed Job."""
    items: str | None = None
    """The item numbers this attempt runs (its AGENTTASK_ITEMS), as compact ranges; None for
    a Job that does not say (not a batch, or made before items existed)."""
    memory: tuple[tuple[str, str], ...] = ()
    """(container, memory limit) of the Job's pod template, for containers that set one."""
    failed_pods: tuple[FailedPod, ...] | None = None
    """How the attempt's failed pods ended: read with the termination message; None: not
    read."""
    queue_name: str | None = None
    """The Kueue LocalQueue of a Job that Kueue admits (its kueue.x-k8s.io/queue-name
    label); None for a Job that our own queue runs."""
    concurrency_key: str = ""
    """Its agenttasks.io/concurrency-key label (core.concurrency.key_label of the task's key
    when the Job was made); empty without one. The slot ledger counts Jobs per key by it."""

    @property
    def finished(self) -> bool:
        return self.outcome is not None


@dataclass(frozen=True, slots=True)
class PodStart:
    """One pod of a not-yet-started attempt, as the start check sees it."""

    name: str
    created: datetime | None = None
    ran: bool = False
    """One of its containers (init containers too) is running or has terminated: the pod
    got past scheduling, admission and its image pulls."""
    unscheduled: tuple[str, str] | None = None
    """(reason, message) of its PodScheduled condition when that is False."""
    waiting: tuple[tuple[str, str, str], ...] = ()
    """(container, reason, message) of each container that waits with a reason."""


@dataclass(frozen=True, slots=True)
class CreateRefusal:
    """A FailedCreate Event on the Job: the Job controller could not create a pod (Pod
    Security Admission, a ResourceQuota, a webhook)."""

    message: str
    last_seen: datetime | None = None


@dataclass(frozen=True, slots=True)
class StartFacts:
    """What the shell read of an attempt that has not started (bounded lists)."""

    pods: tuple[PodStart, ...] = ()
    refusals: tuple[CreateRefusal, ...] = ()


@dataclass(frozen=True)
class TaskFacts:
    """One AgentTask as read from the API server. ``spec`` is None when it did not parse,
    and ``spec_error`` then says why."""

    namespace: str
    name: str
    uid: str
    generation: int
    created: datetime
    spec: AgentTaskSpec | None
    status: AgentTaskStatus
    spec_error: str | None = None
    resource_version: str = ""
    rerun_of: str = ""
    """The task this one runs again, when a person asked for a rerun (and who asked)."""
    requested_by: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


@dataclass(frozen=True, slots=True)
class TaskSummary:
    """What the view keeps of a terminal task, and all that any reader but the task's own
    reconcile reads of a task: the dashboard's rows and graph, dependencies, admission, the
    metrics, the progress endpoint.

    A long-running cluster stores mostly finished tasks; their pod templates, histories and
    conditions (and the pydantic models holding them) were most of the operator's memory.
    A terminal task's pass changes nothing unless one of its Jobs says something new
    (``core.lifecycle.settled``); only then is the whole object read from the API server.
    """

    namespace: str
    name: str
    uid: str
    generation: int
    created: datetime
    resource_version: str
    phase: Phase | None
    reason: str | None
    message: str
    attempts: int
    observed_generation: int | None
    recorded: tuple[int, ...]
    """The attempts in status.history."""
    result_attempt: int | None
    """status.result's attempt: whose termination message has been read."""
    percent: int | None
    progress_message: str
    display_name: str
    paused: bool
    depends_on: tuple[str, ...]
    completion_time: datetime | None
    """status.completionTime: the clock of spec.ttlAfterFinished (core.expiry)."""
    ttl: timedelta | None
    """The task's own spec.ttlAfterFinished (one shared object per value); None: the
    operator's default applies."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def terminal(self) -> bool:
        return is_terminal(self.phase, self.reason)


TaskEntry = TaskFacts | TaskSummary
"""What the view holds of one task: the whole facts while it may still act, a summary once
it is terminal."""


def _status_fields(status: AgentTaskStatus) -> dict[str, Any]:
    progress = status.progress
    return {
        "phase": status.phase, "reason": _intern(status.reason),
        "message": status.message or "",
        "attempts": status.attempts, "observed_generation": status.observed_generation,
        "recorded": _shared(tuple(r.attempt for r in status.history)),
        "result_attempt": status.result.attempt if status.result is not None else None,
        "percent": progress.percent if progress is not None else None,
        "progress_message": (progress.message if progress is not None else None) or "",
        "completion_time": status.completion_time,
    }


def summarize(task: TaskFacts) -> TaskSummary:
    """The summary of a task. The strings many tasks repeat (namespace, reason, title) are
    interned and the attempts of a history shared: one copy each, however many tasks."""
    spec = task.spec
    return TaskSummary(
        namespace=sys.intern(task.namespace), name=task.name, uid=task.uid,
        generation=task.generation, created=task.created,
        resource_version=task.resource_version,
        display_name=sys.intern((spec.display_name if spec else None) or ""),
        paused=bool(spec and spec.paused),
        depends_on=tuple(spec.depends_on) if spec else (),
        ttl=_shared_ttl(spec.ttl_after_finished) if spec else None,
        **_status_fields(task.status))


def _intern(text: str | None) -> str | None:
    return None if text is None else sys.intern(text)


# The attempts in a terminal task's history are nearly always (1,) or a few alike: one tuple
# for all of them (bounded, since a history may hold any 20 attempts).
_RECORDED: dict[tuple[int, ...], tuple[int, ...]] = {}


def _shared(recorded: tuple[int, ...]) -> tuple[int, ...]:
    if len(_RECORDED) < 1024:
        return _RECORDED.setdefault(recorded, recorded)
    return _RECORDED.get(recorded, recorded)


# The TTLs of many tasks are a few values ("1h", "7d"): one timedelta each (bounded, as a
# TTL may be any number of seconds).
_TTLS: dict[timedelta, timedelta] = {}


def _shared_ttl(ttl: timedelta | None) -> timedelta | None:
    if ttl is None:
        return None
    if len(_TTLS) < 1024:
        return _TTLS.setdefault(ttl, ttl)
    return _TTLS.get(ttl, ttl)


def summary_of(entry: TaskEntry) -> TaskSummary:
    return entry if isinstance(entry, TaskSummary) else summarize(entry)


def with_status(entry: TaskEntry, status: AgentTaskStatus, resource_version: str) -> TaskEntry:
    """The entry as it is once a status we wrote is in place."""
    if isinstance(entry, TaskSummary):
        return replace(entry, resource_version=resource_version, **_status_fields(status))
    return replace(entry, status=status, resource_version=resource_version)
