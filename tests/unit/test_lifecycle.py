"""The AgentTask state machine, over plain data and an explicit clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from agenttasks.api.task import AgentTaskSpec, AgentTaskStatus, Phase
from agenttasks.core.actions import CreateJob, DeleteJob, Emit, Gates, SetJobSuspended
from agenttasks.core.facts import JobFacts, TaskFacts
from agenttasks.core.lifecycle import ceil_seconds, decide

T0 = datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)
TEMPLATE = {"spec": {"containers": [{"name": "a", "image": "busybox"}]}}


def task(status: AgentTaskStatus | None = None, **spec: Any) -> TaskFacts:
    return TaskFacts(namespace="ns", name="t", uid="uid-1", generation=1, created=T0,
                     spec=AgentTaskSpec.model_validate({"template": TEMPLATE, **spec}),
                     status=status or AgentTaskStatus())


def job(attempt: int, outcome: str | None = None, at: datetime = T0, **kw: Any) -> JobFacts:
    return JobFacts(name=f"t-{attempt}", attempt=attempt, created=at, owner_uid="uid-1",
                    outcome=outcome, finished_at=at + timedelta(seconds=5) if outcome else None,
                    **kw)  # type: ignore[arg-type]


def evolve(facts: TaskFacts, status: AgentTaskStatus) -> TaskFacts:
    from dataclasses import replace

    return replace(facts, status=status)


def kinds(actions: tuple[object, ...]) -> list[str]:
    return [type(a).__name__ for a in actions]


def test_new_task_starts_attempt_one() -> None:
    d = decide(task(), [], T0)
    assert d.status.phase == Phase.IN_PROGRESS and d.status.attempts == 1
    assert CreateJob(1, "t-1") in d.actions
    assert d.status.job_name == "t-1" and d.status.start_time == T0


def test_without_a_slot_it_queues() -> None:
    d = decide(task(), [], T0, Gates(slot_granted=False))
    assert (d.status.phase, d.status.reason, d.wants_slot) == (Phase.PENDING, "Queued", True)
    assert not [a for a in d.actions if isinstance(a, CreateJob)]


def test_job_created_but_status_not_written_is_adopted() -> None:
    # Crash between Job creation and the status write: the Job alone tells the attempt.
    d = decide(task(), [job(1)], T0 + timedelta(seconds=2))
    assert d.status.phase == Phase.IN_PROGRESS and d.status.attempts == 1
    assert not [a for a in d.actions if isinstance(a, CreateJob)]


def test_success_completes_with_full_progress() -> None:
    t = task(completions=4)
    d = decide(t, [job(1, "Complete", succeeded=4)], T0 + timedelta(seconds=9))
    assert d.status.phase == Phase.COMPLETED and d.status.reason == "Succeeded"
    assert d.status.progress and d.status.progress.percent == 100
    assert d.status.completion_time == T0 + timedelta(seconds=5)
    assert [c.type for c in d.status.conditions if c.status == "True"] == ["Complete", "Ready"]
    assert d.status.history[0].result == "Succeeded"


def test_progress_of_a_running_batch() -> None:
    d = decide(task(completions=4), [job(1, succeeded=1, active=1)], T0)
    assert d.status.progress and (d.status.progress.completed, d.status.progress.total,
                                  d.status.progress.percent) == (1, 4, 25)


def test_failure_schedules_retry_with_backoff() -> None:
    t = task(retries={"limit": 2, "delay": "10s", "backoffFactor": 3})
    first = decide(t, [job(1, "Failed")], T0 + timedelta(seconds=6))
    assert (first.status.phase, first.status.reason) == (Phase.FAILED, "RetryScheduled")
    assert first.status.next_retry_time == T0 + timedelta(seconds=15)
    assert first.wake_at == first.status.next_retry_time
    assert not [c for c in first.status.conditions if c.type == "Failed"]
    # Due: attempt 2 starts.
    second = decide(evolve(t, first.status), [job(1, "Failed")], T0 + timedelta(seconds=15))
    assert CreateJob(2, "t-2") in second.actions and second.status.attempts == 2
    # Attempt 2 fails: retry 2 waits 10s * 3.
    later = T0 + timedelta(seconds=20)
    third = decide(evolve(t, second.status), [job(1, "Failed"), job(2, "Failed", at=later)],
                   later + timedelta(seconds=6))
    assert third.status.next_retry_time == later + timedelta(seconds=5 + 30)
    assert [r.attempt for r in third.status.history] == [1, 2]


def test_retries_exhausted_is_terminal() -> None:
    t = task(retries={"limit": 1, "delay": 1})
    status = AgentTaskStatus(attempts=2, phase=Phase.IN_PROGRESS, reason="Running")
    d = decide(evolve(t, status), [job(1, "Failed"), job(2, "Failed")], T0 + timedelta(minutes=1))
    assert (d.status.phase, d.status.reason) == (Phase.FAILED, "JobFailed")
    assert {c.type: c.status for c in d.status.conditions}["Failed"] == "True"
    assert any(isinstance(a, Emit) and a.type == "Warning" for a in d.actions)


def test_timeout_is_timed_out() -> None:
    d = decide(task(timeout="5s"), [job(1, "Failed", outcome_reason="DeadlineExceeded")],
               T0 + timedelta(seconds=9))
    assert (d.status.phase, d.status.reason) == (Phase.FAILED, "TimedOut")
    assert "timeout of 5s" in str(d.status.message)


def test_deadline_stops_running_job() -> None:
    d = decide(task(deadline="2026-11-25T08:00:10Z"), [job(1)], T0 + timedelta(seconds=10))
    assert (d.status.phase, d.status.reason) == (Phase.FAILED, "DeadlineExceeded")
    assert DeleteJob("t-1") in d.actions


def test_deadline_already_past_creates_nothing() -> None:
    d = decide(task(deadline="2026-11-25T07:00:00Z"), [], T0)
    assert d.status.reason == "DeadlineExceeded"
    assert not [a for a in d.actions if isinstance(a, CreateJob)]


def test_deadline_wakes_the_operator() -> None:
    # A started pod (ready): no start-check look is due before the deadline.
    d = decide(task(deadline="2026-11-25T09:00:00.5Z"), [job(1, ready=1)], T0)
    assert d.wake_at == datetime(2026, 11, 25, 9, 0, 1, tzinfo=UTC)


def test_retry_after_deadline_is_not_started() -> None:
    t = task(deadline="2026-11-25T08:00:20Z", retries={"limit": 3, "delay": "30s"})
    d = decide(t, [job(1, "Failed")], T0 + timedelta(seconds=6))
    assert d.status.reason == "DeadlineExceeded"


def test_pause_suspends_and_resume_unsuspends() -> None:
    paused = decide(task(paused=True), [job(1)], T0)
    assert paused.status.phase == Phase.PAUSED
    assert SetJobSuspended("t-1", True) in paused.actions
    resumed = decide(task(), [job(1, suspended=True)], T0)
    assert resumed.status.phase == Phase.IN_PROGRESS
    assert SetJobSuspended("t-1", False) in resumed.actions


def test_paused_before_start_creates_no_job() -> None:
    d = decide(task(paused=True), [], T0)
    assert d.status.phase == Phase.PAUSED and not d.actions[:-1]
    assert kinds(d.actions) == ["Emit"]


def test_cancel_deletes_running_job() -> None:
    d = decide(task(cancelled=True), [job(1)], T0)
    assert (d.status.phase, d.status.reason) == (Phase.CANCELLED, "Cancelled")
    assert DeleteJob("t-1") in d.actions
    assert {c.type: c.reason for c in d.status.conditions}["Failed"] == "Cancelled"


def test_cancel_of_pending_task() -> None:
    d = decide(task(cancelled=True), [], T0)
    assert d.status.phase == Phase.CANCELLED
    assert not [a for a in d.actions if not isinstance(a, Emit)]


def test_terminal_is_sticky() -> None:
    done = decide(task(), [job(1, "Complete")], T0).status
    again = decide(evolve(task(), done), [job(1, "Complete")], T0 + timedelta(hours=1))
    assert again.status == done and not again.actions


def test_deleted_job_counts_as_failed_attempt() -> None:
    status = AgentTaskStatus(attempts=1, job_name="t-1", phase=Phase.IN_PROGRESS)
    d = decide(evolve(task(retries={"limit": 1}), status), [], T0)
    assert d.status.history[-1].reason == "JobDeleted"
    assert d.status.reason == "RetryScheduled"


def test_old_jobs_are_cleaned_beyond_five_attempts() -> None:
    jobs = [job(n, "Failed") for n in range(1, 8)]
    d = decide(task(retries={"limit": 9, "delay": 0}), jobs, T0 + timedelta(minutes=1))
    deleted = sorted(a.name for a in d.actions if isinstance(a, DeleteJob))
    assert deleted == ["t-1", "t-2"]


def test_invalid_spec() -> None:
    facts = TaskFacts(namespace="ns", name="t", uid="u", generation=1, created=T0, spec=None,
                      status=AgentTaskStatus(), spec_error="spec.template: Field required")
    d = decide(facts, [], T0)
    assert (d.status.phase, d.status.reason) == (Phase.FAILED, "InvalidSpec")
    refused = Gates(job_refused="the API server refused the Job: no containers")
    rejected = decide(task(), [], T0, refused)
    assert rejected.status.reason == "InvalidSpec" and rejected.status.attempts == 0


def test_condition_transition_time_is_stable() -> None:
    first = decide(task(), [job(1)], T0).status
    second = decide(evolve(task(), first), [job(1, succeeded=0)], T0 + timedelta(minutes=5))
    ready = {c.type: c for c in second.status.conditions}["Ready"]
    assert ready.last_transition_time == T0


def emitted(d: Any) -> list[tuple[str, str]]:
    return [(a.type, a.reason) for a in d.actions if isinstance(a, Emit)]


def test_routine_steps_post_no_event() -> None:
    started = decide(task(), [], T0)
    assert started.status.reason == "Running" and emitted(started) == []
    queued = decide(task(), [], T0, Gates(slot_granted=False))
    assert queued.status.reason == "Queued" and emitted(queued) == []
    done = decide(evolve(task(), started.status), [job(1, outcome="Complete")], T0)
    assert done.status.reason == "Succeeded" and emitted(done) == []


def test_warnings_post_an_event_once() -> None:
    running = decide(task(retries={"limit": 1, "delay": 1}), [], T0)
    t = evolve(task(retries={"limit": 1, "delay": 1}), running.status)
    retry = decide(t, [job(1, outcome="Failed")], T0)
    assert emitted(retry) == [("Warning", "RetryScheduled")]
    again = decide(evolve(t, retry.status), [job(1, outcome="Failed")], T0)
    assert emitted(again) == []  # only on the transition


def test_what_a_person_did_posts_an_event() -> None:
    running = decide(task(), [], T0)
    paused = decide(evolve(task(paused=True), running.status), [job(1)], T0)
    assert emitted(paused) == [("Normal", "Paused")]
    resumed = decide(evolve(task(), paused.status), [job(1, suspended=True)], T0)
    assert emitted(resumed) == [("Normal", "Resumed")]
    cancelled = decide(evolve(task(cancelled=True), running.status), [job(1)], T0)
    assert emitted(cancelled) == [("Normal", "Cancelled")]


def test_a_rerun_says_so_once() -> None:
    rerun = replace(task(), rerun_of="nightly-1", requested_by="alice")
    first = decide(rerun, [], T0)
    assert emitted(first) == [("Normal", "Rerun")]
    assert [a.message for a in first.actions if isinstance(a, Emit)] == [
        "a rerun of nightly-1, requested by alice"]
    assert emitted(decide(evolve(rerun, first.status), [job(1)], T0)) == []


def test_start_after_waits_then_starts() -> None:
    t = task(startAfter="2026-11-25T08:00:30Z")
    waiting = decide(t, [], T0)
    assert (waiting.status.phase, waiting.status.reason) == (Phase.PENDING,
                                                             "WaitingForStartTime")
    assert waiting.wake_at == T0 + timedelta(seconds=30)
    assert CreateJob(1, "t-1") in decide(t, [], T0 + timedelta(seconds=30)).actions


def test_dependency_gates() -> None:
    from agenttasks.core.dependencies import DependencyState

    waiting = decide(task(dependsOn=["a"]), [], T0,
                     Gates(dependencies=DependencyState(missing=("a",))))
    assert waiting.status.reason == "WaitingForDependencies"
    assert "a (not created yet)" in str(waiting.status.message)
    failed = decide(task(dependsOn=["a"]), [], T0,
                    Gates(dependencies=DependencyState(failed=("a", "Failed"))))
    assert (failed.status.phase, failed.status.reason) == (Phase.FAILED, "DependencyFailed")
    cycle = decide(task(dependsOn=["b"]), [], T0,
                   Gates(dependencies=DependencyState(cycle=("t", "b", "t"))))
    assert cycle.status.reason == "DependencyCycle" and "t → b → t" in str(cycle.status.message)


def test_plan_refusal_is_terminal() -> None:
    d = decide(task(deadline="2030-01-01T00:00:00Z"), [], T0,
               Gates(plan_refusal="spec.deadline needs the growth plan"))
    assert (d.status.phase, d.status.reason) == (Phase.FAILED, "PlanRestricted")
    assert not [a for a in d.actions if isinstance(a, CreateJob)]


def test_a_template_the_operator_refuses_never_gets_a_job() -> None:
    why = "namespace 'ops' is the operator's own"
    d = decide(task(), [], T0, Gates(identity_refusal=why))
    assert (d.status.phase, d.status.reason, d.status.message) == (
        Phase.FAILED, "NotPermitted", why)
    assert not [a for a in d.actions if isinstance(a, CreateJob)]


def test_resume_needs_a_slot() -> None:
    d = decide(task(), [job(1, suspended=True)], T0, Gates(slot_granted=False))
    assert d.wants_slot and d.status.reason == "Queued"
    assert not [a for a in d.actions if isinstance(a, SetJobSuspended)]


def test_due_times_in_the_last_second_of_year_9999_do_not_overflow() -> None:
    last = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    assert ceil_seconds(last) == last


def test_a_job_that_failed_at_its_deadline_timed_out_whatever_reason_it_gives() -> None:
    """The full chaos run with seed 701606007 saw TimedOut then JobFailed. The Job
    controller (v1.34) stops the pods at activeDeadlineSeconds but keeps its FailureTarget
    condition only once it has seen every deletion; if it has not (or the write is lost), its
    next sync checks the backoff limit before the deadline and counts the stopped pod:
    Failed/BackoffLimitExceeded, at the deadline."""
    killed = job(1, "Failed", outcome_reason="BackoffLimitExceeded", started_at=T0,
                 outcome_message="Job has reached the specified backoff limit")
    d = decide(task(timeout="2s", retries={"limit": 0}),
               [replace(killed, finished_at=T0 + timedelta(seconds=2))], T0 + timedelta(seconds=3))
    assert (d.status.phase, d.status.reason) == (Phase.FAILED, "TimedOut")
    assert [h.reason for h in d.status.history] == ["TimedOut"]


def test_a_job_that_failed_before_its_deadline_failed() -> None:
    failed = job(1, "Failed", outcome_reason="BackoffLimitExceeded", started_at=T0)
    d = decide(task(timeout="10s", retries={"limit": 0}),
               [replace(failed, finished_at=T0 + timedelta(seconds=3))], T0 + timedelta(seconds=4))
    assert (d.status.phase, d.status.reason) == (Phase.FAILED, "JobFailed")
    no_timeout = decide(task(retries={"limit": 0}), [failed], T0 + timedelta(seconds=9))
    assert no_timeout.status.reason == "JobFailed"
