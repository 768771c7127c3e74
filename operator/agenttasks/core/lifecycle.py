"""The AgentTask state machine: (task, its Jobs, now) → status, actions and next wake-up.

Everything is derived from the task's status plus the Jobs that exist, so the operator can
be killed at any instant: the next decision adopts what the last one left behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from agenttasks.api.duration import format_duration
from agenttasks.api.task import (
    AgentTaskSpec,
    AgentTaskStatus,
    AttemptRecord,
    Phase,
    Progress,
    Reason,
)
from agenttasks.core.actions import (
    OPEN_GATES,
    Action,
    CreateJob,
    Decision,
    DeleteJob,
    DeleteTask,
    Emit,
    Gates,
    SetJobSuspended,
    SetWorkloadActive,
)
from agenttasks.core.attempts import (
    KEEP_JOBS,
    attempt_deadline,
    merge_history,
    newest_result,
    old_jobs,
    what_ran,
)
from agenttasks.core.backoff import retry_delay
from agenttasks.core.batch import (
    attempt_items,
    enough_items,
    item_progress,
    items_before,
    plan_items,
)
from agenttasks.core.conditions import derive_conditions
from agenttasks.core.expiry import deletion_time, expired
from agenttasks.core.facts import JobFacts, TaskFacts, TaskSummary
from agenttasks.core.failures import (
    memory_raise_rule,
    raised_memory,
)
from agenttasks.core.naming import job_name
from agenttasks.core.start_check import NOT_CHECKED, STUCK_REASONS, StartCheck, check_start

# Events are for what a person must look at, not a log of every step: status and its attempt
# history are the full record, and each Event is an API write. So a warning always gets one,
# and so does a change a person made (pause, resume, cancel); routine steps (queued, running,
# waiting, succeeded) get none.
_WARNING_REASONS = {Reason.TIMED_OUT, Reason.DEADLINE_EXCEEDED, Reason.JOB_FAILED,
                    Reason.INVALID_SPEC, Reason.RETRY_SCHEDULED, Reason.DEPENDENCY_FAILED,
                    Reason.DEPENDENCY_CYCLE, Reason.PLAN_RESTRICTED, Reason.JOB_DELETED,
                    Reason.NOT_PERMITTED, Reason.NON_RETRYABLE, *STUCK_REASONS}
_PERSON_REASONS = {Reason.PAUSED, Reason.CANCELLED}
RESUMED = "Resumed"
RERUN = "Rerun"


@dataclass
class _Outcome:
    """The status fields a step settles on; turned into a full status at the end."""

    phase: Phase
    reason: str
    message: str
    actions: list[Action] = field(default_factory=list)
    wake_at: datetime | None = None
    wants_slot: bool = False
    next_retry_time: datetime | None = None
    completion_time: datetime | None = None
    progress: Progress | None = None
    started_attempt: int | None = None


def decide(task: TaskFacts, jobs: list[JobFacts], now: datetime,
           gates: Gates = OPEN_GATES, report: Progress | None = None, *,
           default_ttl: timedelta | None = None) -> Decision:
    """Decides the task's next status and actions. ``jobs`` are the Jobs this task owns;
    ``report`` is the agent's newest progress report not yet in status, if any;
    ``default_ttl`` is the operator's --default-ttl-after-finished."""
    now = whole_seconds(now)
    status = task.status
    if report is not None and not status.terminal():
        status = status.model_copy(update={"progress": report})
    result = newest_result(status.result, jobs)
    if result is not status.result:
        status = status.model_copy(update={"result": result})
    task = replace(task, status=status)
    by_attempt = {j.attempt: j for j in jobs}
    attempts = max([status.attempts, *by_attempt])
    timeout = attempt_deadline(task.spec.timeout) if task.spec else None
    history = merge_history(status.history, jobs, attempts, timeout, task.spec)
    cleanup = old_jobs(jobs, attempts, history)

    if status.terminal():
        due = _deletion_time(task, status, default_ttl)
        if expired(due, now):
            # Its Jobs and payload go with it (owner references): nothing else to do, and
            # no status to write on an object being deleted.
            return Decision(status=status, actions=(DeleteTask(task.uid),))
        running = by_attempt.get(attempts)
        extra: list[Action] = list(cleanup)
        if running and not running.finished and not running.deleting and \
                DeleteJob(running.name) not in extra:
            extra.append(DeleteJob(running.name))
        return Decision(status=status.model_copy(update={
            "history": history, "observed_generation": task.generation}), actions=tuple(extra),
            wake_at=due)

    if task.spec is None:
        outcome = _Outcome(Phase.FAILED, Reason.INVALID_SPEC,
                           f"the spec is invalid: {task.spec_error}", completion_time=now)
    elif gates.identity_refusal:
        outcome = _Outcome(Phase.FAILED, Reason.NOT_PERMITTED, gates.identity_refusal,
                           completion_time=now)
    else:
        outcome = _step(task, task.spec, by_attempt.get(attempts), attempts, history, now,
                        gates)
    outcome.actions.extend(a for a in cleanup if a not in outcome.actions)
    decision = _finish(task, outcome, attempts, history, now)
    if decision.status.terminal():  # the pass that ends it wakes it when it is to go
        decision = replace(decision, wake_at=_earliest(
            decision.wake_at, _deletion_time(task, decision.status, default_ttl)))
    return decision


def _deletion_time(task: TaskFacts, status: AgentTaskStatus, default_ttl: timedelta | None
                   ) -> datetime | None:
    own = task.spec.ttl_after_finished if task.spec else None
    return deletion_time(status.completion_time, own, default_ttl)


def expiry(task: TaskSummary, now: datetime, default_ttl: timedelta | None
           ) -> DeleteTask | datetime | None:
    """The terminal branch of ``decide`` as far as the summary of a terminal task holds it:
    DeleteTask once its TTL (or ``default_ttl``) has passed since it became terminal, else
    the moment it will have (the pass's wake-up); None while it is kept. A due deletion
    needs no more facts than these, whatever its Jobs say: they go with it."""
    if not task.terminal:
        return None
    due = deletion_time(task.completion_time, task.ttl, default_ttl)
    return DeleteTask(task.uid) if expired(due, whole_seconds(now)) else due


def settled(task: TaskSummary, jobs: list[JobFacts]) -> bool:
    """Whether ``decide`` over this terminal task and the Jobs it owns would keep its status
    as it is and act on no Job: then a pass needs nothing but the summary. False whenever a
    Job says something the status does not hold yet (an attempt, a record for history, a
    result to read), a Job is to be deleted, or observedGeneration is behind; the pass then
    decides over the whole task."""
    if not task.terminal or task.observed_generation != task.generation:
        return False
    if list(task.recorded) != sorted(task.recorded):
        return False  # decide writes history back in attempt order
    finished = []
    for job in jobs:
        if job.attempt > task.attempts:
            return False
        if not job.finished:
            if job.attempt == task.attempts and not job.deleting:
                return False  # the running attempt of a finished task is deleted
            continue
        finished.append(job.attempt)
        if job.attempt not in task.recorded:
            return False  # its record joins the history
        if not job.deleting and job.attempt <= task.attempts - KEEP_JOBS:
            return False  # an old attempt's Job is deleted
    # The reconciler reads the newest finished attempt's termination message when status
    # has no result of that attempt yet.
    return not finished or (task.result_attempt is not None
                            and task.result_attempt >= max(finished))


def _step(task: TaskFacts, spec: AgentTaskSpec, current: JobFacts | None, attempts: int,
          history: list[AttemptRecord], now: datetime, gates: Gates) -> _Outcome:
    running = current is not None and not current.finished
    last = history[-1] if history and history[-1].attempt == attempts else None

    if current and current.outcome == "Complete":
        return _completed(spec, current, attempts, now, history)
    if spec.cancelled:
        outcome = _Outcome(Phase.CANCELLED, Reason.CANCELLED,
                           "cancelled by spec.cancelled", completion_time=now)
        if running and current and not current.deleting:
            outcome.actions.append(DeleteJob(current.name))
        return outcome
    if spec.deadline and now >= ceil_seconds(spec.deadline):
        outcome = _Outcome(Phase.FAILED, Reason.DEADLINE_EXCEEDED,
                           f"the deadline {spec.deadline.isoformat()} passed before the task "
                           "completed", completion_time=now)
        if running and current and not current.deleting:
            outcome.actions.append(DeleteJob(current.name))
        return outcome
    if running and current and last is None:
        check = check_start(current, spec, task.status, spec.retries.limit + 1, now)
        if check.ended is None and current.queue_name:
            return _kueue_running(spec, current, attempts, history, task.status, check)
        if check.ended is None:
            return _running(spec, current, attempts, gates, history, task.status.progress,
                            check)
        ended = check.ended.model_copy(update=what_ran(current, spec, history))
        history.append(ended)
        return _start_failed(spec, ended, attempts, history, now)
    # A running Job whose attempt has a record was ended by its start timeout: the failure
    # path below follows, and _old_jobs deletes the Job.
    if attempts > 0 and last is None:
        # The current attempt's Job is gone but never finished: count it as failed.
        last = AttemptRecord(attempt=attempts, job_name=job_name(task.name, attempts),
                             completion_time=now, result="Failed", reason=Reason.JOB_DELETED,
                             message=f"the Job of attempt {attempts} was deleted before it "
                             "finished")
        history.append(last)
    if last is not None and last.result == "Failed" and current is not None and \
            enough_items(spec, last):
        return _completed(spec, current, attempts, now, history)
    if last is not None and last.result == "Failed":
        failure = _after_failure(spec, last, attempts, history, now)
        if failure is not None:
            return failure
    return _start_or_wait(task, spec, attempts, history, now, gates)


def _completed(spec: AgentTaskSpec, job: JobFacts, attempts: int, now: datetime,
               history: list[AttemptRecord]) -> _Outcome:
    """A Job that completed, or a batch Job that failed after enough of the batch's items
    had succeeded: the task succeeded, in part when items failed or did not run. (The Job's
    successPolicy does not always win: when the last items end together, the Job controller
    may see the failed index first and fail the Job.)"""
    text = f"attempt {attempts} succeeded in Job {job.name}"
    progress = Progress(completed=spec.completions, total=spec.completions, percent=100)
    reason = Reason.SUCCEEDED
    if spec.completions > 1:
        record = next((r.items for r in history if r.attempt == job.attempt), None)
        items = item_progress(spec.completions, record or attempt_items(job))
        progress = Progress(completed=items.succeeded, total=items.total,
                            percent=items.succeeded * 100 // items.total, items=items)
        if items.succeeded < items.total:
            reason = Reason.PARTIALLY_SUCCEEDED
            failed = f"; not succeeded: {items.left_items}" if items.left_items else ""
            text = f"{items.succeeded} of {items.total} items succeeded by attempt " \
                f"{attempts} (Job {job.name}){failed}"
    return _Outcome(Phase.COMPLETED, reason, text, completion_time=job.finished_at or now,
                    progress=progress)


def _job_progress(spec: AgentTaskSpec, job: JobFacts, history: list[AttemptRecord]
                  ) -> Progress:
    """A running attempt's progress from its Job: pods done, or a batch's items so far."""
    if spec.completions <= 1 or job.items is None:
        return Progress(completed=job.succeeded, total=spec.completions,
                        percent=job.succeeded * 100 // spec.completions)
    items = item_progress(spec.completions, attempt_items(job, items_before(history, job.attempt)))
    return Progress(completed=items.succeeded, total=items.total,
                    percent=items.succeeded * 100 // items.total, items=items)


def _running(spec: AgentTaskSpec, job: JobFacts, attempts: int, gates: Gates,
             history: list[AttemptRecord], reported: Progress | None = None,
             check: StartCheck = NOT_CHECKED) -> _Outcome:
    progress = _job_progress(spec, job, history)
    if reported is not None and reported.attempt == attempts:
        # The agent's own report for this attempt wins over pod counts; a batch's item
        # counts are the Job's, whatever the agent says.
        progress = reported.model_copy(update={"items": progress.items})
    if spec.paused:
        outcome = _Outcome(Phase.PAUSED, Reason.PAUSED,
                           f"Job {job.name} is suspended; set spec.paused to false to resume",
                           progress=progress)
        if not job.suspended:
            outcome.actions.append(SetJobSuspended(job.name, True))
    elif job.suspended and not gates.slot_granted:
        # Resuming takes a slot like a start does.
        outcome = _Outcome(Phase.PENDING, Reason.QUEUED, f"resume {gates.queue_message}",
                           progress=progress, wants_slot=True)
    else:
        total = spec.retries.limit + 1
        # A pod that has not started says why while it waits (core.start_check).
        reason, message = check.waiting or (
            Reason.RUNNING, f"attempt {attempts} of {total} is running in Job {job.name}")
        outcome = _Outcome(Phase.IN_PROGRESS, reason, message, progress=progress)
        if job.suspended:
            outcome.actions.append(SetJobSuspended(job.name, False))
    outcome.wake_at = _earliest(_deadline(spec), check.wake_at)
    return outcome


def _start_failed(spec: AgentTaskSpec, record: AttemptRecord, attempts: int,
                  history: list[AttemptRecord], now: datetime) -> _Outcome:
    """The pass that ends an attempt at its start timeout writes its record and nothing
    else: the failure's outcome as usual, but its Job is not deleted and no retry starts
    yet. The next pass, at once, finds the record in status and deletes the Job
    (_old_jobs), then starts a retry that is due. Deleting first would let a restart
    between the delete and the status write find the Job gone with no record (JobDeleted);
    creating the retry first would leave the old Job running unrecorded. This way a
    restart at any instant finds either no record (the pods are looked at and decided on
    again) or the record (the Job is stopped): the attempt is counted once."""
    outcome = _after_failure(spec, record, attempts, history, now)
    if outcome is None:  # the retry is due now: it starts in the next pass
        outcome = _Outcome(Phase.FAILED, Reason.RETRY_SCHEDULED,
                           f"attempt {attempts} of {spec.retries.limit + 1} failed "
                           f"({record.reason}: {record.message}); retry "
                           f"{attempts - _uncounted(history)} of {spec.retries.limit} starts "
                           "now", next_retry_time=now)
    outcome.wake_at = now
    return outcome


def _kueue_running(spec: AgentTaskSpec, job: JobFacts, attempts: int,
                   history: list[AttemptRecord], before: AgentTaskStatus,
                   check: StartCheck = NOT_CHECKED) -> _Outcome:
    """An unfinished Job that Kueue admits (its queue-name label). Kueue owns its
    spec.suspend: suspended, it waits for admission (WaitingForKueue); unsuspended, it runs.
    The operator never writes spec.suspend of such a Job, since Kueue would unsuspend an
    admitted Job again; a pause deactivates its Workload instead (Kueue evicts it, suspends
    the Job and frees its quota), and the resume activates it again. Each is sent once, on
    the change of phase; a pass whose write fails is retried before its status is written.
    The start check (``check``) looks at an admitted Job only: a suspended Job is never
    checked, and its clock starts when Kueue unsuspends it."""
    progress = _job_progress(spec, job, history)
    reported = before.progress
    if reported is not None and reported.attempt == attempts:
        progress = reported.model_copy(update={"items": progress.items})
    was_paused = before.phase == Phase.PAUSED
    actions: list[Action] = []
    if spec.paused:
        if not was_paused and job.uid:
            actions.append(SetWorkloadActive(job.name, job.uid, False))
        outcome = _Outcome(Phase.PAUSED, Reason.PAUSED,
                           f"Job {job.name}'s Kueue Workload is deactivated; set spec.paused "
                           "to false to resume", progress=progress, actions=actions)
    else:
        if was_paused and job.uid:
            actions.append(SetWorkloadActive(job.name, job.uid, True))
        outcome = _kueue_outcome(spec, job, attempts, progress, check)
        outcome.actions = actions
    outcome.wake_at = _earliest(_deadline(spec), check.wake_at)
    return outcome


def _kueue_outcome(spec: AgentTaskSpec, job: JobFacts, attempts: int, progress: Progress,
                   check: StartCheck) -> _Outcome:
    """Waiting for Kueue while the Job is suspended, running once Kueue has let it go (or
    waiting for its pods to start, with the start check's reason)."""
    total = spec.retries.limit + 1
    if job.suspended:
        return _Outcome(Phase.PENDING, Reason.WAITING_FOR_KUEUE,
                        f"attempt {attempts} of {total}: Job {job.name} waits for admission "
                        f"by Kueue (LocalQueue {job.queue_name})", progress=progress)
    reason, message = check.waiting or (
        Reason.RUNNING, f"attempt {attempts} of {total} is running in Job {job.name} "
        f"(admitted by Kueue, LocalQueue {job.queue_name})")
    return _Outcome(Phase.IN_PROGRESS, reason, message, progress=progress)


def _uncounted(history: list[AttemptRecord]) -> int:
    return sum(1 for record in history if not record.counted)


def _after_failure(spec: AgentTaskSpec, last: AttemptRecord, attempts: int,
                   history: list[AttemptRecord], now: datetime) -> _Outcome | None:
    """Terminal failure or a scheduled retry; None when the retry is due now. Attempts a
    rule left uncounted do not use up the limit, and their retry is due at once."""
    total = spec.retries.limit + 1
    if last.reason == Reason.NON_RETRYABLE:
        return _Outcome(Phase.FAILED, Reason.NON_RETRYABLE,
                        f"attempt {attempts} failed: {last.message}",
                        completion_time=last.completion_time or now)
    counted = attempts - _uncounted(history)
    if not last.counted:
        return None if not spec.paused else _Outcome(
            Phase.PAUSED, Reason.PAUSED, f"paused after attempt {attempts} failed; set "
            "spec.paused to false to continue", wake_at=_deadline(spec))
    if counted >= total:
        reason = last.reason  # the last attempt's own word: TimedOut, OOMKilled, ...
        if reason == Reason.TIMED_OUT and spec.timeout is not None:
            text = f"attempt {attempts} of {total} exceeded its timeout of " \
                f"{format_duration(spec.timeout)}"
        else:
            text = f"attempt {attempts} of {total} failed: {last.message or last.reason}"
        return _Outcome(Phase.FAILED, reason, text, completion_time=last.completion_time or now)
    finished = last.completion_time or now
    due = ceil_seconds(finished + retry_delay(spec.retries, counted))
    if spec.deadline and due >= spec.deadline:
        return _Outcome(Phase.FAILED, Reason.DEADLINE_EXCEEDED,
                        f"attempt {attempts} failed and its retry, due at {due.isoformat()}, "
                        f"would start after the deadline {spec.deadline.isoformat()}",
                        completion_time=now)
    if spec.paused:
        return _Outcome(Phase.PAUSED, Reason.PAUSED,
                        f"paused after attempt {attempts} failed; set spec.paused to false "
                        "to continue", next_retry_time=due, wake_at=_deadline(spec))
    if now < due:
        return _Outcome(Phase.FAILED, Reason.RETRY_SCHEDULED,
                        f"attempt {attempts} of {total} failed ({last.reason}: {last.message}); "
                        f"retry {counted} of {spec.retries.limit} starts at {due.isoformat()}",
                        next_retry_time=due, wake_at=due)
    return None


def _start_or_wait(task: TaskFacts, spec: AgentTaskSpec, attempts: int,
                   history: list[AttemptRecord], now: datetime, gates: Gates) -> _Outcome:
    deadline = _deadline(spec)
    if attempts == 0:
        waiting = _before_first_attempt(spec, now, gates)
        if waiting is not None:
            return waiting
    if spec.paused:
        return _Outcome(Phase.PAUSED, Reason.PAUSED,
                        "paused before it started; set spec.paused to false to start it",
                        wake_at=deadline)
    if attempts == 0 and spec.start_after and now < ceil_seconds(spec.start_after):
        return _Outcome(Phase.PENDING, Reason.WAITING_FOR_START_TIME,
                        f"waiting until {spec.start_after.isoformat()} (spec.startAfter)",
                        wake_at=_earliest(ceil_seconds(spec.start_after), deadline))
    if gates.job_refused:
        return _Outcome(Phase.FAILED, Reason.INVALID_SPEC, gates.job_refused,
                        completion_time=now)
    if not gates.slot_granted and spec.kueue is None:  # Kueue's quota replaces our limits
        return _Outcome(Phase.PENDING, Reason.QUEUED, gates.queue_message, wants_slot=True,
                        wake_at=deadline)
    attempt = attempts + 1
    name = job_name(task.name, attempt)
    total = spec.retries.limit + 1
    if spec.kueue is not None:  # created suspended: Kueue lets it go
        return _Outcome(Phase.PENDING, Reason.WAITING_FOR_KUEUE,
                        f"attempt {attempt} of {total}: Job {name} waits for admission by "
                        f"Kueue (LocalQueue {spec.kueue.queue_name})",
                        actions=[_create_job(spec, attempt, name, history)],
                        started_attempt=attempt,
                        progress=Progress(completed=0, total=spec.completions, percent=0),
                        wake_at=deadline)
    return _Outcome(Phase.IN_PROGRESS, Reason.RUNNING,
                    f"attempt {attempt} of {total} is running in Job {name}",
                    actions=[_create_job(spec, attempt, name, history)],
                    started_attempt=attempt,
                    progress=Progress(completed=0, total=spec.completions, percent=0),
                    wake_at=deadline)


def _create_job(spec: AgentTaskSpec, attempt: int, name: str,
                history: list[AttemptRecord]) -> CreateJob:
    """The next attempt's Job: a batch's items still left, and memory raised for each
    earlier attempt killed for it when a rule says so."""
    ooms = sum(1 for record in history if record.reason == Reason.OOM_KILLED)
    memory = raised_memory(spec.template, memory_raise_rule(spec.retries.rules), ooms)
    return CreateJob(attempt, name, items=plan_items(spec, history), memory=memory)


def _before_first_attempt(spec: AgentTaskSpec, now: datetime, gates: Gates) -> _Outcome | None:
    """Plan and dependency gates; they only hold back a task that has not started."""
    if gates.plan_refusal:
        return _Outcome(Phase.FAILED, Reason.PLAN_RESTRICTED, gates.plan_refusal,
                        completion_time=now)
    deps = gates.dependencies
    if deps.cycle:
        return _Outcome(Phase.FAILED, Reason.DEPENDENCY_CYCLE,
                        "dependency cycle: " + " → ".join(deps.cycle), completion_time=now)
    if deps.failed:
        name, phase = deps.failed
        return _Outcome(Phase.FAILED, Reason.DEPENDENCY_FAILED,
                        f"dependency {name} ended {phase}; this task will not run",
                        completion_time=now)
    if not deps.satisfied and not spec.paused:
        return _Outcome(Phase.PENDING, Reason.WAITING_FOR_DEPENDENCIES,
                        deps.waiting_message(), wake_at=_deadline(spec))
    return None


def _earliest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return min(present) if present else None


def _finish(task: TaskFacts, outcome: _Outcome, attempts: int, history: list[AttemptRecord],
            now: datetime) -> Decision:
    before = task.status
    attempt = outcome.started_attempt or attempts
    start_time = before.start_time
    if start_time is None and attempt > 0:
        start_time = history[0].start_time if history and history[0].start_time else now
    status = AgentTaskStatus(
        phase=outcome.phase,
        reason=outcome.reason,
        message=outcome.message,
        attempts=attempt,
        job_name=job_name(task.name, attempt) if attempt else None,
        start_time=start_time,
        completion_time=outcome.completion_time,
        next_retry_time=outcome.next_retry_time,
        progress=outcome.progress or before.progress,
        result=before.result,
        history=history,
        conditions=derive_conditions(outcome.phase, outcome.reason, outcome.message,
                                     task.generation, before.conditions, now),
        observed_generation=task.generation,
    )
    actions = [*outcome.actions, *_events(task, before, status)]
    return Decision(status=status, actions=tuple(actions), wake_at=outcome.wake_at,
                    wants_slot=outcome.wants_slot)


def _events(task: TaskFacts, before: AgentTaskStatus, after: AgentTaskStatus
            ) -> list[Emit]:
    """The Events of a transition that a person must look at (see _WARNING_REASONS)."""
    found: list[Emit] = []
    if before.reason is None and task.rerun_of:
        by = f", requested by {task.requested_by}" if task.requested_by else ""
        found.append(Emit("Normal", RERUN, f"a rerun of {task.rerun_of}{by}"))
    if (before.phase, before.reason) == (after.phase, after.reason):
        return found
    if after.reason in _WARNING_REASONS:
        found.append(Emit("Warning", str(after.reason), str(after.message)))
    elif after.reason in _PERSON_REASONS:
        found.append(Emit("Normal", str(after.reason), str(after.message)))
    elif before.reason == Reason.PAUSED and not after.terminal():
        found.append(Emit("Normal", RESUMED, f"resumed (spec.paused is false): "
                                             f"{after.message}"))
    return found


def _deadline(spec: AgentTaskSpec) -> datetime | None:
    return ceil_seconds(spec.deadline) if spec.deadline else None


def whole_seconds(moment: datetime) -> datetime:
    """Times in status have whole seconds, as metav1.Time does."""
    return moment.replace(microsecond=0)


def ceil_seconds(moment: datetime) -> datetime:
    """Due times are rounded up, so a wake-up at one never finds it not yet due."""
    rounded = whole_seconds(moment)
    if rounded == moment:
        return rounded
    try:
        return rounded + timedelta(seconds=1)
    except OverflowError:  # within the last second of year 9999: no later moment exists
        return moment
