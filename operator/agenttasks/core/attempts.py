"""An attempt's record in status.history, from its finished Job: its result and reason, the
failure rule that judged it, what it ran (a batch's items, raised memory); plus which old
Jobs go, and the newest result. Pure; core.lifecycle decides with them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from agenttasks.api.failure_rules import RuleAction
from agenttasks.api.task import HISTORY_LIMIT, AgentTaskSpec, AttemptRecord, Reason, TaskResult
from agenttasks.core.actions import Action, DeleteJob
from agenttasks.core.batch import attempt_items, items_before
from agenttasks.core.facts import JobFacts
from agenttasks.core.failures import (
    MAX_IGNORED_ATTEMPTS,
    first_exit_code,
    judge,
    memory_raise_rule,
    oom_killed,
)

KEEP_JOBS = 5  # Jobs of the last attempts kept, so their logs can be read.


def attempt_deadline(timeout: timedelta | None) -> timedelta | None:
    """The Job's activeDeadlineSeconds for a spec.timeout: whole seconds, at least one."""
    if timeout is None:
        return None
    return timedelta(seconds=max(1, int(timeout.total_seconds())))


def timed_out(job: JobFacts, deadline: timedelta | None) -> bool:
    """A failed attempt timed out if the Job says so, or if it failed at or after its
    deadline whatever reason it gives. The Job controller stops the pods at the deadline but
    keeps its FailureTarget condition only once it has seen every deletion; if it has not,
    or that write is lost, its next sync checks the backoff limit first and reports the pod
    it stopped as BackoffLimitExceeded. Times are whole seconds, so a pod that fails by
    itself in the deadline's last second also counts as timed out."""
    if job.outcome_reason == "DeadlineExceeded":
        return True
    if deadline is None or job.started_at is None or job.finished_at is None:
        return False
    return job.finished_at - job.started_at >= deadline


def attempt_record(job: JobFacts, deadline: timedelta | None, spec: AgentTaskSpec | None,
            may_ignore: bool, history: list[AttemptRecord]) -> AttemptRecord:
    """The record of a finished attempt. A failure is judged by the failure rules over its
    pods (when the shell read them); ``may_ignore`` is False once MAX_IGNORED_ATTEMPTS
    attempts went uncounted, and further failures count whatever the rules say."""
    record = AttemptRecord(attempt=job.attempt, job_name=job.name, start_time=job.created,
                           completion_time=job.finished_at, result="Failed",
                           reason=Reason.JOB_FAILED.value, message=job.outcome_message,
                           **what_ran(job, spec, history))
    if job.outcome == "Complete":
        return record.model_copy(update={"result": "Succeeded",
                                         "reason": Reason.SUCCEEDED.value})
    if timed_out(job, deadline):
        return record.model_copy(update={"reason": Reason.TIMED_OUT.value})
    return record.model_copy(update=judged(job, spec, may_ignore))


def what_ran(job: JobFacts, spec: AgentTaskSpec | None, history: list[AttemptRecord]
              ) -> dict[str, Any]:
    """A record's items (of a batch) and memory (when a rule raises it), from its Job."""
    items = attempt_items(job, items_before(history, job.attempt)) \
        if spec is not None and spec.completions > 1 else None
    memory = dict(job.memory) if spec is not None and job.memory and \
        memory_raise_rule(spec.retries.rules) else None
    return {"items": items, "memory": memory}


def judged(job: JobFacts, spec: AgentTaskSpec | None, may_ignore: bool) -> dict[str, object]:
    """Reason, exit code, rule and count of a failed attempt, by the failure rules."""
    pods = job.failed_pods or ()
    rules = spec.retries.rules if spec is not None else []
    match = judge(rules, pods)
    update: dict[str, object] = {"exit_code": first_exit_code(pods)}
    if oom_killed(pods):
        update["reason"] = Reason.OOM_KILLED.value
    if match is None:
        if job.outcome_reason == "PodFailurePolicy":  # a FailJob rule; its pods are gone
            update["reason"] = Reason.NON_RETRYABLE.value
        return update
    update.update(exit_code=match.exit_code, rule=match.label)
    what = f"exit code {match.exit_code}" if match.exit_code is not None else "the failure"
    if match.action == RuleAction.FAIL_TASK:
        update.update(reason=Reason.NON_RETRYABLE.value,
                      message=f"{what} matched {match.label} (FailTask): not retried")
    elif match.action == RuleAction.IGNORE and may_ignore:
        update.update(counted=False, message=f"{what} matched {match.label} (Ignore): "
                      "retried without using up a retry")
        if match.disrupted:
            update["reason"] = Reason.DISRUPTED.value
    return update


def merge_history(history: list[AttemptRecord], jobs: list[JobFacts], attempts: int,
                   deadline: timedelta | None, spec: AgentTaskSpec | None
                   ) -> list[AttemptRecord]:
    """Adds a record for each finished Job not yet in history, newest last, bounded."""
    known = {r.attempt for r in history}
    ignored = sum(1 for r in history if not r.counted)
    added: list[AttemptRecord] = []
    for job in sorted(jobs, key=lambda j: j.attempt):
        if job.finished and job.attempt not in known and job.attempt <= attempts:
            record = attempt_record(job, deadline, spec, ignored < MAX_IGNORED_ATTEMPTS,
                             sorted([*history, *added], key=lambda r: r.attempt))
            ignored += 0 if record.counted else 1
            added.append(record)
    merged = sorted([*history, *added], key=lambda r: r.attempt)
    return merged[-HISTORY_LIMIT:]


def old_jobs(jobs: list[JobFacts], attempts: int, history: list[AttemptRecord]
              ) -> list[Action]:
    """Finished Jobs older than the last KEEP_JOBS attempts, and unfinished Jobs whose
    attempt already has a record: only the start check ends an attempt before its Job
    finishes, and its record is in status before this deletes the Job (_start_failed)."""
    ended = {r.attempt for r in history}
    return [DeleteJob(j.name) for j in jobs if not j.deleting and (
        (j.finished and j.attempt <= attempts - KEEP_JOBS) or
        (not j.finished and j.attempt in ended))]


def newest_result(known: TaskResult | None, jobs: list[JobFacts]) -> TaskResult | None:
    """The newest finished attempt's termination message, once the shell has read it from
    the attempt's pod (``JobFacts.termination_message``); an older result is replaced."""
    read = [j for j in jobs if j.finished and j.termination_message is not None]
    if not read:
        return known
    latest = max(read, key=lambda j: j.attempt)
    if known is not None and known.attempt >= latest.attempt:
        return known
    return TaskResult(attempt=latest.attempt, message=(latest.termination_message or "")[:4096])
