"""The start check: has an attempt's pod started, and if not, why not (spec.startTimeout).

**Started** is decided from facts, never from time alone. An attempt has started when a pod
of it ran:

- its Job counts a ready pod (``status.ready`` > 0) or a succeeded one (``status.succeeded``
  > 0): these reach the operator through the Job informer, at no cost; or
- a pod the Job controls (its ownerReference, not a label anyone may set) has a container,
  an init container included, that is running or has terminated: it got past admission,
  scheduling and its image pulls, and the agent's own code has run. This covers a running
  pod whose readiness probe has not passed yet, and a pod that ran and failed.

The check only looks at an attempt whose Job has not finished, is not being deleted, is not
suspended (a suspended Job has no pods), is not finishing (pods it has yet to count in
``status.uncountedTerminatedPods``, or a SuccessCriteriaMet or FailureTarget condition), and
has not started by the Job's counts. Its clock starts at the Job's ``status.startTime`` (set
when the Job controller starts it, and again when it resumes from suspension), or its
creation while that is not set.

Why not: the pods' own words first, then the Job's.

- ``Unschedulable``: a pod's PodScheduled condition is False with reason Unschedulable; its
  message (the scheduler's) is quoted.
- ``ImagePullFailed``: a container waits with reason ErrImagePull, ImagePullBackOff or
  InvalidImageName; its message (the kubelet's) is quoted.
- ``PodCreateRefused``: the Job controller could not create pods (a FailedCreate Event on
  the Job: Pod Security Admission, a ResourceQuota, a webhook) and no pod was created since;
  the Event's message is quoted.
- ``StartTimedOut``: at the start timeout, when the pods give none of these reasons (any
  other word a pod gives, such as a waiting reason CreateContainerConfigError, is quoted).

While the attempt waits, the task stays InProgress with the reason in ``status.reason`` and
a message that says which attempt waits and quotes why; when its pods start, the reason goes
back to Running. At ``spec.startTimeout`` an attempt that has not started fails with that
reason (StartTimedOut when there is none), and the normal retry rules follow.

Pods changing state do not touch the Job, so the shell reads them only when a look is due:
``LOOK_FIRST`` after the clock starts, then at gaps that double up to ``LOOK_MAX_GAP``, and at
the start timeout. A task whose pod starts within ``LOOK_FIRST`` is never looked at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from agenttasks.api.duration import format_duration
from agenttasks.api.task import AgentTaskSpec, AgentTaskStatus, AttemptRecord, Phase, Reason
from agenttasks.core.facts import JobFacts, StartFacts

LOOK_FIRST = timedelta(seconds=5)
LOOK_MAX_GAP = timedelta(seconds=30)
WAITING_REASONS = frozenset({Reason.UNSCHEDULABLE, Reason.IMAGE_PULL_FAILED,
                             Reason.POD_CREATE_REFUSED})
"""The reasons a task shows while its attempt waits to start."""
STUCK_REASONS = WAITING_REASONS | {Reason.START_TIMED_OUT}
"""The reasons of an attempt that failed its start timeout."""
IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})


@dataclass(frozen=True, slots=True)
class Trouble:
    """Why an attempt has not started: a reason, and the pod's or Job's words (quoted)."""

    reason: Reason
    words: str


@dataclass(frozen=True, slots=True)
class StartCheck:
    """The start check's answer for the running attempt. ``waiting``: the (reason, message)
    the task shows while it waits, None: Running. ``ended``: the failed attempt's record,
    when the start timeout is due. ``wake_at``: the next look (or the timeout)."""

    waiting: tuple[str, str] | None = None
    ended: AttemptRecord | None = None
    wake_at: datetime | None = None


NOT_CHECKED = StartCheck()


def started(job: JobFacts) -> bool:
    """Started by the Job's own counts (a ready or succeeded pod)."""
    return job.ready > 0 or job.succeeded > 0


def ran(job: JobFacts) -> bool:
    """Started by the Job's counts, or by a pod the shell read (``job.start``)."""
    return started(job) or (job.start is not None and any(p.ran for p in job.start.pods))


def checked(job: JobFacts, paused: bool) -> bool:
    """Whether the start check applies to this Job at all: it runs, is not being deleted or
    suspended (nor about to be: ``paused``), has not started by its counts, and is not
    finishing: while the Job controller counts a pod that just ended (before it adds it to
    ``succeeded``, a Job that ran shows no ready and no succeeded pod) or has met its
    success or failure criteria, its next status says more."""
    return not (job.finished or job.deleting or job.suspended or paused or job.finishing or
                started(job))


def start_clock(job: JobFacts) -> datetime:
    """When the attempt's time to start began: the Job's startTime (reset when the Job
    resumes from suspension), or its creation before the Job controller set that."""
    return max(job.created, job.started_at) if job.started_at else job.created


def start_limit(timeout: timedelta) -> timedelta:
    """spec.startTimeout in whole seconds (rounded up), at least one."""
    return timedelta(seconds=max(1, math.ceil(timeout.total_seconds())))


def timeout_at(job: JobFacts, timeout: timedelta | None) -> datetime | None:
    return start_clock(job) + start_limit(timeout) if timeout is not None else None


def next_look(job: JobFacts, after: datetime, timeout: timedelta | None) -> datetime:
    """The first look strictly after ``after``: the clock plus 5 s, 10 s, 20 s, 40 s and then
    every 30 s, or the start timeout if that comes first."""
    clock = start_clock(job)
    elapsed = after - clock
    offset, gap = LOOK_FIRST, LOOK_FIRST
    while offset <= elapsed and gap < LOOK_MAX_GAP:
        offset += gap
        gap = min(gap * 2, LOOK_MAX_GAP)
    if offset <= elapsed:
        offset += ((elapsed - offset) // LOOK_MAX_GAP + 1) * LOOK_MAX_GAP
    point = clock + offset
    due = timeout_at(job, timeout)
    return due if due is not None and after < due < point else point


def needs_look(status: AgentTaskStatus, spec: AgentTaskSpec, job: JobFacts,
               last_look: datetime | None, now: datetime) -> bool:
    """Whether the shell reads this Job's pods and Events on this pass (bounded lists): the
    task's current attempt runs, is checked, has no record yet, and a look is due: one of
    ``next_look``'s moments has come since ``last_look`` (the shell's last read of this
    Job, None: none), or the start timeout has passed (its pass always decides on fresh
    facts)."""
    if status.terminal() or job.uid is None or not checked(job, spec.paused or spec.cancelled):
        return False
    if any(r.attempt == job.attempt for r in status.history):
        return False  # its record ended it: the Job is being stopped
    clock = start_clock(job)
    due = timeout_at(job, spec.start_timeout)
    if due is not None and now >= due:
        return True
    after = last_look if last_look is not None and last_look >= clock else clock
    return now >= next_look(job, after, spec.start_timeout)


def needs_events(pods: StartFacts) -> bool:
    """Whether the Job's FailedCreate Events could change the answer over these pods: not
    when one of them ran or gives a reason of its own (the pods' words come first)."""
    return not any(p.ran for p in pods.pods) and trouble(pods) is None


def trouble(facts: StartFacts) -> Trouble | None:
    """Why the pods have not started, in the pods' or the Job's own words; None when they
    give no reason this check knows."""
    for pod in facts.pods:
        if pod.unscheduled is not None and pod.unscheduled[0] == "Unschedulable":
            return Trouble(Reason.UNSCHEDULABLE,
                           f"pod {pod.name} cannot be scheduled: {pod.unscheduled[1]}")
    for pod in facts.pods:
        for container, reason, message in pod.waiting:
            if reason in IMAGE_PULL_REASONS:
                return Trouble(Reason.IMAGE_PULL_FAILED,
                               f"container {container} of pod {pod.name} cannot pull its "
                               f"image: {_said(reason, message)}")
    refusal = _current_refusal(facts)
    if refusal is not None:
        return Trouble(Reason.POD_CREATE_REFUSED,
                       f"the Job controller cannot create its pods: {refusal}")
    return None


def _current_refusal(facts: StartFacts) -> str | None:
    """The newest FailedCreate message, unless a pod was created after it was last seen
    (then creating pods works again, and the pod's own state tells the rest)."""
    if not facts.refusals:
        return None
    newest = max(facts.refusals, key=lambda r: r.last_seen or _NEVER)
    created = [p.created for p in facts.pods if p.created is not None]
    if newest.last_seen is not None and created and max(created) > newest.last_seen:
        return None
    return newest.message


_NEVER = datetime.min.replace(tzinfo=UTC)


def _said(reason: str, message: str) -> str:
    return f"{reason}: {message}" if message else reason


def _other_words(facts: StartFacts) -> str | None:
    """What a pod says that is none of the known reasons (for StartTimedOut's message)."""
    for pod in facts.pods:
        if pod.unscheduled is not None:
            return f"pod {pod.name} is not scheduled: {_said(*pod.unscheduled)}"
        for container, reason, message in pod.waiting:
            return f"container {container} of pod {pod.name} waits: {_said(reason, message)}"
    return None


def check_start(job: JobFacts, spec: AgentTaskSpec, status: AgentTaskStatus, total: int,
                now: datetime) -> StartCheck:
    """The start check of the running attempt ``job`` (``total``: attempts allowed).

    - Started (``ran``), or not checked: nothing to say.
    - Not looked at on this pass (``job.start`` None): the waiting reason status already
      shows for this attempt stays (a pass that did not look knows no better), and the next
      look is the wake-up. Only fresh facts fail an attempt; the shell always looks once the
      timeout has passed.
    - Looked at: the trouble, if any, is shown; at the start timeout the attempt ends with
      a record of that reason (StartTimedOut when the pods give none).
    """
    if not checked(job, spec.paused) or ran(job):
        return NOT_CHECKED
    wake = next_look(job, now, spec.start_timeout)
    if job.start is None:
        return StartCheck(waiting=_shown(status, job), wake_at=wake)
    found = trouble(job.start)
    due = timeout_at(job, spec.start_timeout)
    if spec.start_timeout is not None and due is not None and now >= due:
        return StartCheck(ended=_ended(job, spec.start_timeout, found, job.start, now))
    if found is None:
        return StartCheck(wake_at=wake)
    return StartCheck(waiting=(found.reason, f"attempt {job.attempt} of {total} in Job "
                               f"{job.name} has not started: {found.words}"), wake_at=wake)


def _shown(status: AgentTaskStatus, job: JobFacts) -> tuple[str, str] | None:
    if status.phase == Phase.IN_PROGRESS and status.reason in WAITING_REASONS and \
            status.attempts == job.attempt and status.job_name == job.name:
        return status.reason, status.message or ""
    return None


def _ended(job: JobFacts, timeout: timedelta, found: Trouble | None, facts: StartFacts,
           now: datetime) -> AttemptRecord:
    head = f"no pod of attempt {job.attempt} ran within spec.startTimeout " \
        f"({format_duration(start_limit(timeout))})"
    if found is not None:
        reason, message = found.reason, f"{head}: {found.words}"
    else:
        other = _other_words(facts)
        reason = Reason.START_TIMED_OUT
        message = f"{head}: {other}" if other else f"{head}, and its pods gave no reason"
    return AttemptRecord(attempt=job.attempt, job_name=job.name, start_time=job.created,
                         completion_time=now, result="Failed", reason=reason, message=message)
