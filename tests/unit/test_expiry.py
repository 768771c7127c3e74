"""spec.ttlAfterFinished and --default-ttl-after-finished: the deletion time (core.expiry),
the lifecycle's terminal branch (core.lifecycle.decide and, over summaries, expiry), and the
reconciler's delete over the reconciler tests' fake client."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agenttasks.api.task import AgentTaskSpec, AgentTaskStatus, Phase
from agenttasks.core.actions import DeleteJob, DeleteTask
from agenttasks.core.expiry import deletion_time, expired
from agenttasks.core.facts import JobFacts, TaskFacts, TaskSummary, summarize
from agenttasks.core.lifecycle import decide, expiry
from agenttasks.kube.client import ApiError
from agenttasks.manifests.tasks import status_patch

from .test_task_reconciler import NS, World, run

T0 = datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)
TEMPLATE = {"spec": {"containers": [{"name": "a", "image": "busybox"}]}}
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


# --- the deletion time ----------------------------------------------------------------------


def test_the_tasks_own_ttl_counts_from_its_completion_time() -> None:
    assert deletion_time(T0, HOUR, None) == T0 + HOUR
    assert deletion_time(T0, HOUR, DAY) == T0 + HOUR  # its own wins over the default
    assert deletion_time(T0, DAY, HOUR) == T0 + DAY  # also when it is the longer one
    assert deletion_time(T0, timedelta(0), DAY) == T0  # 0: as soon as it is terminal


def test_the_default_applies_to_a_task_that_sets_none() -> None:
    assert deletion_time(T0, None, DAY) == T0 + DAY
    assert deletion_time(T0, None, timedelta(0)) == T0


def test_without_a_ttl_or_a_completion_time_a_task_is_kept() -> None:
    assert deletion_time(T0, None, None) is None
    assert deletion_time(None, HOUR, DAY) is None


def test_the_deletion_time_is_a_whole_second_never_early() -> None:
    assert deletion_time(T0, timedelta(seconds=1.2), None) == T0 + timedelta(seconds=2)
    assert deletion_time(T0, timedelta(milliseconds=1), None) == T0 + timedelta(seconds=1)


def test_a_deletion_time_past_the_last_datetime_keeps_the_task() -> None:
    assert deletion_time(T0, timedelta(days=999_999_999), None) is None
    last = datetime.max.replace(microsecond=0, tzinfo=UTC)
    assert deletion_time(last, timedelta(milliseconds=1), None) is None


def test_expired() -> None:
    assert not expired(None, T0)
    assert not expired(T0 + timedelta(seconds=1), T0)
    assert expired(T0, T0) and expired(T0, T0 + HOUR)


# --- the lifecycle's terminal branch --------------------------------------------------------


def task(status: AgentTaskStatus | None = None, **spec: Any) -> TaskFacts:
    return TaskFacts(namespace="ns", name="t", uid="uid-1", generation=1, created=T0,
                     spec=AgentTaskSpec.model_validate({"template": TEMPLATE, **spec}),
                     status=status or AgentTaskStatus())


def job(attempt: int, outcome: str | None = None, **kw: Any) -> JobFacts:
    return JobFacts(name=f"t-{attempt}", attempt=attempt, created=T0, owner_uid="uid-1",
                    outcome=outcome,  # type: ignore[arg-type]
                    finished_at=T0 + timedelta(seconds=5) if outcome else None, **kw)


DONE = T0 + timedelta(seconds=5)  # when the Jobs above finish


def completed(**spec: Any) -> tuple[TaskFacts, list[JobFacts]]:
    """A task whose one attempt succeeded, as the next pass sees it."""
    facts, jobs = task(**spec), [job(1, "Complete")]
    first = decide(facts, jobs, T0 + timedelta(seconds=9))
    assert first.status.phase == Phase.COMPLETED and first.status.completion_time == DONE
    return replace(facts, status=first.status), jobs


def test_the_pass_that_ends_a_task_wakes_it_at_its_deletion_time() -> None:
    """The event of that pass's own status write brings no pass (TaskView.only_our_write),
    so the wake-up is the ending pass's; each pass after it says the same."""
    facts, jobs = task(ttlAfterFinished="1h"), [job(1, "Complete")]
    decision = decide(facts, jobs, T0 + timedelta(seconds=9))
    assert decision.status.phase == Phase.COMPLETED and decision.wake_at == DONE + HOUR
    settled_facts = replace(facts, status=decision.status)
    again = decide(settled_facts, jobs, T0 + timedelta(seconds=10))
    assert again.wake_at == DONE + HOUR and again.actions == ()
    assert status_patch(settled_facts.status, again.status) is None


def test_a_ttl_of_zero_writes_the_end_first_and_deletes_in_the_next_pass() -> None:
    facts, jobs = task(ttlAfterFinished="0s"), [job(1, "Complete")]
    ending = decide(facts, jobs, T0 + timedelta(seconds=9))
    assert ending.status.phase == Phase.COMPLETED and ending.wake_at == DONE
    assert not [a for a in ending.actions if isinstance(a, DeleteTask)]
    after = decide(replace(facts, status=ending.status), jobs, T0 + timedelta(seconds=9))
    assert after.actions == (DeleteTask("uid-1"),)


@pytest.mark.parametrize(("spec", "jobs"), [
    ({"cancelled": True}, []), ({"deadline": "2026-11-25T07:00:00Z"}, []),
    ({}, [job(1, "Failed")]),  # retries.limit 0: the one attempt failed
])
def test_every_way_of_ending_wakes_at_the_deletion_time(spec: dict[str, Any],
                                                        jobs: list[JobFacts]) -> None:
    facts = task(ttlAfterFinished="1m", **spec)
    ended = decide(facts, jobs, T0 + timedelta(seconds=6), default_ttl=DAY)
    assert ended.status.terminal() and ended.status.completion_time is not None
    assert ended.wake_at == ended.status.completion_time + timedelta(minutes=1)


def test_once_due_the_decision_is_to_delete_the_task_and_nothing_else() -> None:
    facts, jobs = completed(ttlAfterFinished="1h")
    before = decide(facts, jobs, DONE + HOUR - timedelta(seconds=1))
    assert DeleteTask("uid-1") not in before.actions and before.wake_at == DONE + HOUR
    for now in (DONE + HOUR, DONE + HOUR + timedelta(milliseconds=300), DONE + DAY * 30):
        decision = decide(facts, jobs, now)
        assert decision.actions == (DeleteTask("uid-1"),) and decision.wake_at is None


def test_a_due_task_is_deleted_without_deleting_its_jobs_one_by_one() -> None:
    """Even with a Job to clean up (the running attempt of a cancelled task), the owner
    references take the Jobs with the task."""
    facts = task(cancelled=True, ttlAfterFinished="0s")
    running = [job(1)]
    ended = decide(facts, running, T0)
    assert ended.status.phase == Phase.CANCELLED and DeleteJob("t-1") in ended.actions
    assert decide(replace(facts, status=ended.status), running, T0).actions == (
        DeleteTask("uid-1"),)


def test_the_default_applies_and_a_tasks_own_ttl_overrides_it() -> None:
    facts, jobs = completed()
    assert decide(facts, jobs, DONE + HOUR, default_ttl=HOUR).actions == (DeleteTask("uid-1"),)
    assert decide(facts, jobs, DONE, default_ttl=HOUR).wake_at == DONE + HOUR
    own, jobs = completed(ttlAfterFinished="1d")
    kept = decide(own, jobs, DONE + HOUR, default_ttl=HOUR)
    assert kept.actions == () and kept.wake_at == DONE + DAY


def test_without_a_ttl_or_a_default_a_finished_task_is_kept() -> None:
    facts, jobs = completed()
    decision = decide(facts, jobs, DONE + DAY * 10_000)
    assert decision.actions == () and decision.wake_at is None


@pytest.mark.parametrize("spec", [{"cancelled": True}, {"deadline": "2026-11-25T07:00:00Z"}])
def test_failed_and_cancelled_tasks_expire_too(spec: dict[str, Any]) -> None:
    facts = task(ttlAfterFinished="10s", **spec)
    ended = decide(facts, [], T0)
    assert ended.status.terminal() and ended.status.completion_time == T0
    facts = replace(facts, status=ended.status)
    assert decide(facts, [], T0).wake_at == T0 + timedelta(seconds=10)
    assert decide(facts, [], T0 + timedelta(seconds=10)).actions == (DeleteTask("uid-1"),)


def test_an_invalid_spec_uses_the_default() -> None:
    facts = TaskFacts(namespace="ns", name="t", uid="uid-1", generation=1, created=T0,
                      spec=None, status=AgentTaskStatus(), spec_error="bad")
    ended = decide(facts, [], T0)
    assert (ended.status.phase, ended.status.reason) == (Phase.FAILED, "InvalidSpec")
    facts = replace(facts, status=ended.status)
    assert decide(facts, [], T0 + HOUR).actions == ()
    assert decide(facts, [], T0 + HOUR, default_ttl=HOUR).actions == (DeleteTask("uid-1"),)


def test_a_task_that_is_not_terminal_is_never_deleted() -> None:
    later = T0 + DAY * 365
    running = task(ttlAfterFinished="0s")
    started = decide(running, [], T0)
    assert started.status.phase == Phase.IN_PROGRESS
    running = replace(running, status=started.status)
    decision = decide(running, [job(1)], later, default_ttl=timedelta(0))
    assert decision.status.phase == Phase.IN_PROGRESS
    assert not [a for a in decision.actions if isinstance(a, DeleteTask)]
    paused = task(ttlAfterFinished="0s", paused=True)
    assert not [a for a in decide(paused, [], later, default_ttl=timedelta(0)).actions
                if isinstance(a, DeleteTask)]


def test_a_failure_with_a_retry_scheduled_is_not_terminal() -> None:
    facts = task(ttlAfterFinished="0s", retries={"limit": 1, "delay": "5m"})
    started = replace(facts, status=decide(facts, [], T0).status)
    failed = [job(1, "Failed")]
    retrying = decide(started, failed, T0 + timedelta(seconds=6), default_ttl=timedelta(0))
    assert (retrying.status.phase, retrying.status.reason) == (Phase.FAILED, "RetryScheduled")
    assert retrying.wake_at == DONE + timedelta(minutes=5)  # the retry, not a deletion
    facts = replace(started, status=retrying.status)
    again = decide(facts, failed, T0 + timedelta(minutes=3), default_ttl=timedelta(0))
    assert again.status.reason == "RetryScheduled"
    assert not [a for a in again.actions if isinstance(a, DeleteTask)]


# --- over summaries -------------------------------------------------------------------------


def summary(**spec: Any) -> TaskSummary:
    facts, _ = completed(**spec)
    return summarize(facts)


def test_a_summary_keeps_the_completion_time_and_the_tasks_own_ttl() -> None:
    one, other = summary(ttlAfterFinished="7d"), summary(ttlAfterFinished=604800)
    assert (one.completion_time, one.ttl) == (DONE, timedelta(days=7))
    assert one.ttl is other.ttl  # one object per value, however many tasks
    assert summary().ttl is None


def test_expiry_of_a_summary_is_the_terminal_branch_of_decide() -> None:
    for spec, default in (({"ttlAfterFinished": "1h"}, None), ({}, HOUR),
                          ({"ttlAfterFinished": "1d"}, HOUR), ({}, None)):
        facts, jobs = completed(**spec)
        slim = summarize(facts)
        for now in (DONE, DONE + HOUR, DONE + DAY, DONE + DAY + timedelta(seconds=0.5)):
            whole = decide(facts, jobs, now, default_ttl=default)
            found = expiry(slim, now, default)
            if isinstance(found, DeleteTask):
                assert whole.actions == (found,)
            else:
                assert DeleteTask("uid-1") not in whole.actions and whole.wake_at == found


def test_a_summary_that_is_not_terminal_never_expires() -> None:
    facts = task(ttlAfterFinished="0s")
    retrying = AgentTaskStatus(phase=Phase.FAILED, reason="RetryScheduled", attempts=1,
                               completion_time=T0)
    assert expiry(summarize(replace(facts, status=retrying)), T0 + DAY, timedelta(0)) is None


# --- the reconciler -------------------------------------------------------------------------

NOW = datetime(2026, 12, 1, 12, 0, 5, tzinfo=UTC)  # when the fake's Jobs finish


def finished_world(default: timedelta | None = None, **spec: Any) -> World:
    world = World()
    world.engine.tasks.default_ttl = default
    world.kube.deleted = []  # type: ignore[attr-defined]

    async def delete_object(plural: str, namespace: str, name: str, *,
                            uid: str | None = None, propagation: str = "Background") -> None:
        """As the API server does with Foreground: the task stays, being deleted, until
        the garbage collector is done (``collect``)."""
        world.kube.deleted.append((name, uid, propagation))  # type: ignore[attr-defined]
        body = world.kube.tasks.get(name)
        if body is None:
            return
        if uid is not None and body["metadata"]["uid"] != uid:
            raise ApiError(409, "Conflict", "Precondition failed: UID in precondition")
        body["metadata"].update(deletionTimestamp="2026-12-01T12:00:30Z",
                                finalizers=["foregroundDeletion"])
        world.kube.watches.on_task(  # type: ignore[union-attr]
            "MODIFIED", world.kube._stamp(body))

    world.kube.delete_object = delete_object  # type: ignore[attr-defined]
    world.spec = spec  # type: ignore[attr-defined]
    return world


def collect(world: World, name: str) -> None:
    """The garbage collector has deleted the task's Jobs: the task goes."""
    body = world.kube.tasks.pop(name)
    world.kube.jobs.pop(f"{name}-1", None)
    world.kube.watches.on_task("DELETED", body)  # type: ignore[union-attr]


async def finish(world: World, name: str) -> None:
    await world.start()
    world.kube.add_task(name, **world.spec)  # type: ignore[attr-defined]
    await world.drain()
    world.kube.finish_job(f"{name}-1")
    await world.drain()
    world.kube.deliver_status_event(name)
    await world.drain()
    assert world.phase(name) == ("Completed", "Succeeded")
    assert isinstance(world.engine.view.entry((NS, name)), TaskSummary)


def test_a_finished_task_is_woken_at_expiry_and_deleted_without_being_read() -> None:
    async def scenario() -> None:
        world = finished_world(ttlAfterFinished="10s")
        await finish(world, "done")  # the pass that ends it schedules the wake-up
        assert world.engine.wakeups._due[(NS, "done")] == NOW + timedelta(seconds=10)
        world.engine.wakeups.forget((NS, "done"))
        world.kube.finish_job("done-1")  # and so does a settled pass over its summary
        await world.drain()
        assert world.engine.wakeups._due[(NS, "done")] == NOW + timedelta(seconds=10)
        assert world.kube.deleted == []  # type: ignore[attr-defined]
        world.engine.tasks.clock = lambda: NOW + timedelta(seconds=10)
        world.kube.reads.clear()
        await world.engine.tasks.reconcile((NS, "done"))
        assert world.kube.deleted == [  # type: ignore[attr-defined]
            ("done", "uid-done", "Foreground")]
        assert world.kube.reads == []
        assert (NS, "done") not in world.engine.wakeups._due
        # The event of its deletion brings a pass, which sends nothing again.
        await world.drain()
        assert len(world.kube.deleted) == 1  # type: ignore[attr-defined]
        collect(world, "done")
        await world.drain()
        assert world.engine.view.entry((NS, "done")) is None
        assert world.engine.tasks._deleting == {}

    run(scenario)


def test_the_default_deletes_a_task_without_its_own_ttl() -> None:
    async def scenario() -> None:
        world = finished_world(default=timedelta(minutes=1))
        await finish(world, "plain")
        world.engine.tasks.clock = lambda: NOW + timedelta(minutes=1)
        await world.engine.tasks.reconcile((NS, "plain"))
        assert world.kube.deleted == [  # type: ignore[attr-defined]
            ("plain", "uid-plain", "Foreground")]

    run(scenario)


def test_without_a_ttl_a_finished_task_stays() -> None:
    async def scenario() -> None:
        world = finished_world()
        await finish(world, "kept")
        world.engine.tasks.clock = lambda: NOW + DAY * 1000
        await world.engine.tasks.reconcile((NS, "kept"))
        assert world.kube.deleted == []  # type: ignore[attr-defined]
        assert (NS, "kept") not in world.engine.wakeups._due

    run(scenario)


def test_a_new_task_of_the_same_name_is_never_deleted() -> None:
    """The view still holds the expired task when its name has a new one in the API
    server: the uid precondition refuses, and the pass ends quietly."""
    async def scenario() -> None:
        world = finished_world(ttlAfterFinished="0s")
        await finish(world, "reused")
        world.kube.tasks["reused"]["metadata"]["uid"] = "uid-new"  # the watch has not said
        world.engine.tasks.clock = lambda: NOW
        await world.engine.tasks.reconcile((NS, "reused"))
        assert world.kube.deleted == [  # type: ignore[attr-defined]
            ("reused", "uid-reused", "Foreground")]
        assert "deletionTimestamp" not in world.kube.tasks["reused"]["metadata"]

    run(scenario)


def test_a_task_whose_whole_facts_are_decided_is_deleted_once_due() -> None:
    """A terminal task still held whole (its status event not yet seen) expires through
    decide, and nothing is written to it."""
    async def scenario() -> None:
        world = finished_world(ttlAfterFinished="0s")
        await world.start()
        world.kube.add_task("fresh", **world.spec)  # type: ignore[attr-defined]
        await world.drain()
        world.kube.finish_job("fresh-1")
        await world.drain()
        assert isinstance(world.engine.view.entry((NS, "fresh")), TaskFacts)
        writes = len(world.kube.writes)
        world.engine.tasks.clock = lambda: NOW
        await world.engine.tasks.reconcile((NS, "fresh"))
        assert world.kube.deleted == [  # type: ignore[attr-defined]
            ("fresh", "uid-fresh", "Foreground")]
        assert len(world.kube.writes) == writes  # no status write

    run(scenario)
