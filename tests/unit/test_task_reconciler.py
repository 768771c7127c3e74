"""The task reconciler over a fake client: passes to start, the refused Job, agent progress,
and the event of our own status write.

The fake keeps objects in memory and feeds the engine's indexes through the same watch
handlers the informers call, so the reconciler sees what it would see in a cluster (but not
what the API server validates: the integration suite covers that).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from agenttasks import metrics
from agenttasks.api.task import Progress
from agenttasks.controller.engine import Engine
from agenttasks.controller.settings import OperatorSettings
from agenttasks.controller.watches import Watches
from agenttasks.core.queue import Limits
from agenttasks.kube.client import ApiError, Kube
from agenttasks.kube.connection import Connection
from agenttasks.kube.secrets import SecretCache

NS = "team"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
JSON = dict[str, Any]


class FakeKube:
    """Objects in memory; every write is recorded and shown to the watches at once."""

    def __init__(self) -> None:
        self.revisions = itertools.count(100)
        self.tasks: dict[str, JSON] = {}
        self.jobs: dict[str, JSON] = {}
        self.writes: list[tuple[str, str]] = []
        self.status_writes: list[tuple[str, JSON]] = []  # (task, the patch), in order
        self.reads: list[str] = []  # tasks read whole from the API server
        self.refuse_jobs = False
        self.pods: list[JSON] = []
        self.events: list[JSON] = []
        self.looks: list[str] = []  # pod and Event lists of the start check, in order
        self.watch_ahead = False  # deliver a status write's event before its answer
        self.failing_status_writes = 0  # the next N status writes fail (connection lost)
        self.watches: Watches | None = None
        self.connection = Connection(None)  # the informers' (never started here)

    def _stamp(self, body: JSON) -> JSON:
        body["metadata"]["resourceVersion"] = str(next(self.revisions))
        return body

    def add_task(self, name: str, **spec: Any) -> None:
        body = self._stamp({"apiVersion": "agenttasks.io/v1alpha1", "kind": "AgentTask",
                            "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}",
                                         "generation": 1,
                                         "creationTimestamp": "2026-12-01T12:00:00Z"},
                            "spec": {"template": {"spec": {"containers": [
                                {"name": "a", "image": "busybox"}]}}, **spec}})
        self.tasks[name] = body
        self._show("ADDED", body, job=False)

    def _show(self, kind: str, body: JSON, job: bool) -> None:
        assert self.watches is not None
        (self.watches.on_job if job else self.watches.on_task)(kind, body)

    async def create_job(self, body: JSON) -> JSON:
        self.writes.append(("create-job", body["metadata"]["name"]))
        if self.refuse_jobs:
            raise ApiError(422, "Invalid", "spec.template.spec.containers: Required value")
        body = self._stamp({**body, "metadata": {**body["metadata"],
                                                 "creationTimestamp": "2026-12-01T12:00:01Z",
                                                 "uid": f"job-{body['metadata']['name']}"}})
        self.jobs[body["metadata"]["name"]] = body
        self._show("ADDED", body, job=True)
        return body

    def finish_job(self, name: str) -> None:
        body = self.jobs[name]
        body["status"] = {"succeeded": 1, "conditions": [
            {"type": "Complete", "status": "True",
             "lastTransitionTime": "2026-12-01T12:00:05Z"}]}
        self._show("MODIFIED", self._stamp(body), job=True)

    async def get_job(self, namespace: str, name: str) -> JSON | None:
        return self.jobs.get(name)

    async def get_object(self, plural: str, namespace: str, name: str) -> JSON | None:
        self.reads.append(name)
        found = self.tasks.get(name)
        return copy.deepcopy(found) if found is not None else None

    async def patch_status(self, plural: str, namespace: str, name: str,
                           status: JSON) -> JSON:
        self.writes.append(("status", name))
        if self.failing_status_writes:
            self.failing_status_writes -= 1
            raise BrokenPipeError(32, "Broken pipe")
        self.status_writes.append((name, dict(status)))
        body = self.tasks[name]
        merged = {**(body.get("status") or {}), **status}
        body["status"] = {k: v for k, v in merged.items() if v is not None}
        self._stamp(body)
        if self.watch_ahead:
            self._show("MODIFIED", copy.deepcopy(body), job=False)
        return copy.deepcopy(body)

    def deliver_status_event(self, name: str) -> None:
        """The watch event of the last status write (the fake holds it until asked)."""
        self._show("MODIFIED", self.tasks[name], job=False)

    async def list_pods(self, namespace: str, label_selector: str,
                        limit: int | None = None) -> list[JSON]:
        if label_selector.startswith("batch.kubernetes.io/controller-uid="):
            assert limit is not None, "the start check's reads are bounded"
            self.looks.append("pods")
            uid = label_selector.split("=", 1)[1]
            return [p for p in self.pods if p["metadata"]["labels"][
                "batch.kubernetes.io/controller-uid"] == uid][:limit]
        return []

    async def list_events_of(self, namespace: str, uid: str, reason: str,
                             limit: int = 10) -> list[JSON]:
        self.looks.append("events")
        return [e for e in self.events if e["involvedObject"]["uid"] == uid
                and e["reason"] == reason][:limit]

    def set_job_status(self, name: str, **status: Any) -> None:
        body = self.jobs[name]
        body["status"] = {**(body.get("status") or {}), **status}
        self._show("MODIFIED", self._stamp(body), job=True)

    async def delete_job(self, namespace: str, name: str) -> None:
        self.writes.append(("delete-job", name))

    def job_deleted_by_someone(self, name: str) -> None:
        body = self.jobs.pop(name)
        self._show("DELETED", self._stamp(body), job=True)

    async def set_job_suspended(self, namespace: str, name: str, suspend: bool) -> None:
        self.writes.append(("suspend" if suspend else "resume", name))

    async def emit(self, *args: Any) -> None:
        pass


class World:
    def __init__(self, limit: int = 0) -> None:
        self.kube = FakeKube()
        kube = cast(Kube, self.kube)
        self.engine = Engine(OperatorSettings(namespaces=(NS,), limits=Limits(limit)), kube,
                             SecretCache(kube))
        self.kube.watches = Watches(self.engine)
        self.engine.tasks.clock = lambda: T0
        self.engine.slots.clock = lambda: T0
        self.passes: list[str] = []

    async def start(self) -> None:
        """What the engine does once every informer has listed (nothing is stored yet)."""
        self.engine.view.complete = True
        self.engine.slots.listed(self.engine.view.task_keys())
        self.engine.slots.activate()
        await asyncio.sleep(0)

    async def drain(self) -> None:
        """Runs passes until the queue is empty (letting grant passes run between them)."""
        queue = self.engine.queue
        for _ in range(100):
            await asyncio.sleep(0)
            if not len(queue):
                return
            key = await queue.get()
            try:
                self.passes.append(key[1])
                await self.engine.tasks.reconcile(key)
            finally:
                queue.done(key)
        raise AssertionError("the queue never drained")

    def statuses(self, name: str) -> list[tuple[str, str]]:
        """(phase, reason) of each status write of ``name``, in order."""
        return [(s.get("phase", ""), s.get("reason", "")) for n, s in self.kube.status_writes
                if n == name]

    def phase(self, name: str) -> tuple[str, str]:
        status = self.kube.tasks[name].get("status") or {}
        return status.get("phase", ""), status.get("reason", "")


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


def _start_passes() -> tuple[float, float]:
    samples = {s.name: s.value for m in metrics.START_PASSES.collect() for s in m.samples}
    return samples["agenttasks_start_passes_count"], samples["agenttasks_start_passes_sum"]


def test_a_task_with_a_free_slot_starts_in_the_pass_that_first_sees_it() -> None:
    async def scenario() -> None:
        world = World(limit=2)
        await world.start()
        count, total = _start_passes()
        world.kube.add_task("a")
        await world.drain()
        # Pass 1 offers the task and is granted: its decision (made without the slot) is
        # made again with the grant, so the Job and InProgress are written at once, and no
        # Queued status ever is.
        assert world.kube.writes[:2] == [("create-job", "a-1"), ("status", "a")]
        assert world.statuses("a")[0] == ("InProgress", "Running")
        assert world.passes[0] == "a"
        assert world.phase("a") == ("InProgress", "Running")
        assert _start_passes() == (count + 1, total + 1)

    run(scenario)


def test_a_queued_task_starts_in_the_pass_after_its_grant() -> None:
    async def scenario() -> None:
        world = World(limit=1)
        await world.start()
        world.kube.add_task("first")
        await world.drain()
        world.kube.add_task("second")
        await world.drain()
        assert world.phase("second") == ("Pending", "Queued")
        assert ("create-job", "second-1") not in world.kube.writes
        world.passes.clear()
        count, total = _start_passes()
        world.kube.finish_job("first-1")  # frees the slot: the grant wakes "second"
        await world.drain()
        assert ("create-job", "second-1") in world.kube.writes
        assert world.passes.count("second") >= 1
        # Two passes in all: the one that queued it and the one after the grant.
        assert _start_passes() == (count + 1, total + 2)

    run(scenario)


def test_a_refused_job_fails_the_task_in_the_next_pass_without_a_running_status() -> None:
    async def scenario() -> None:
        world = World()
        await world.start()
        world.kube.refuse_jobs = True
        world.kube.add_task("bad")
        await world.drain()
        writes = world.kube.writes
        assert writes[0] == ("create-job", "bad-1")
        # No status said "running" for a Job that was never made: the next pass fails it.
        await asyncio.wait_for(_until(lambda: world.phase("bad")[1] == "InvalidSpec",
                                      world), timeout=10)
        status = world.kube.tasks["bad"]["status"]
        assert status["phase"] == "Failed" and status.get("attempts", 0) == 0
        assert "the API server refused the Job" in status["message"]
        assert writes.count(("status", "bad")) == 1

    run(scenario)


def test_a_job_deleted_before_its_attempt_was_recorded_is_not_created_again() -> None:
    """The pass creates the Job, then its status write fails (the API server restarts);
    someone deletes the Job before the next pass. The task's status still says no attempt
    started, but the operator created one: the next pass takes the Job for the attempt's
    deleted Job (JobDeleted) instead of creating a second Job of the same name (found by
    the chaos test: 'attempt 1 has 2 Jobs')."""
    async def scenario() -> None:
        world = World(limit=2)
        await world.start()
        world.kube.failing_status_writes = 1
        world.kube.add_task("a")
        key = await world.engine.queue.get()
        try:
            with pytest.raises(BrokenPipeError):
                await world.engine.tasks.reconcile(key)
        finally:
            world.engine.queue.done(key)
        assert world.kube.writes == [("create-job", "a-1"), ("status", "a")]
        assert "status" not in world.kube.tasks["a"]  # nothing recorded the attempt
        world.kube.job_deleted_by_someone("a-1")
        world.engine.queue.add(key)  # the engine's retry of the failed pass
        await world.drain()
        assert world.kube.writes.count(("create-job", "a-1")) == 1
        status = world.kube.tasks["a"]["status"]
        assert (status["phase"], status["reason"], status["attempts"]) == \
            ("Failed", "JobDeleted", 1), status

    run(scenario)


async def _until(condition: Callable[[], bool], world: World) -> None:
    """Runs the wake-ups and passes until ``condition`` holds."""
    wakeups = asyncio.create_task(world.engine.wakeups.run())
    try:
        while not condition():
            await world.drain()
            await asyncio.sleep(0.01)
    finally:
        wakeups.cancel()


def test_agent_progress_reaches_status_through_the_reconciler_at_most_once_a_second() -> None:
    async def scenario() -> None:
        world = World()
        clock = [0.0]
        world.engine.reports._clock = lambda: clock[0]
        await world.start()
        world.kube.add_task("agent")
        await world.drain()
        world.kube.writes.clear()
        key = (NS, "agent")
        world.engine.reports.offer(key, Progress(completed=1, total=4, percent=25, attempt=1))
        await world.drain()
        assert world.kube.writes == [("status", "agent")]
        assert world.kube.tasks["agent"]["status"]["progress"]["completed"] == 1
        world.engine.reports.offer(key, Progress(completed=2, total=4, percent=50, attempt=1))
        world.engine.reports.offer(key, Progress(completed=3, total=4, percent=75, attempt=1))
        await world.drain()
        assert world.kube.writes == [("status", "agent")]  # not yet: within the second
        assert world.engine.wakeups._due.get(key) is not None
        clock[0] = 1.0
        world.engine.queue.add(key)
        await world.drain()
        assert world.kube.writes == [("status", "agent"), ("status", "agent")]
        assert world.kube.tasks["agent"]["status"]["progress"]["completed"] == 3  # newest

    run(scenario)


def test_the_event_of_our_own_status_write_makes_no_pass() -> None:
    async def scenario() -> None:
        world = World()
        await world.start()
        world.kube.add_task("quiet")
        await world.drain()
        world.passes.clear()
        world.kube.deliver_status_event("quiet")
        await world.drain()
        assert world.passes == []
        world.kube.tasks["quiet"]["spec"]["paused"] = True  # someone else's change
        world.kube._stamp(world.kube.tasks["quiet"])
        world.kube.deliver_status_event("quiet")
        await world.drain()
        assert world.passes == ["quiet"]

    run(scenario)


def test_grants_wake_in_priority_order_after_the_running_job_ends() -> None:
    async def scenario() -> None:
        world = World(limit=1)
        await world.start()
        world.kube.add_task("running")
        await world.drain()
        for name, priority in (("low", 0), ("high", 5)):
            world.kube.add_task(name, priority=priority)
        await world.drain()
        world.kube.finish_job("running-1")
        await world.drain()
        created = [name for verb, name in world.kube.writes if verb == "create-job"]
        assert created == ["running-1", "high-1"]

    run(scenario)



def test_the_event_of_our_write_makes_no_pass_even_when_it_comes_before_the_answer() -> None:
    """The watch can be faster than the write's answer: the event is known by its content
    (the status being written, every other fact unchanged)."""
    async def scenario() -> None:
        world = World(limit=1)
        await world.start()
        world.kube.add_task("first")
        await world.drain()
        world.kube.watch_ahead = True
        world.passes.clear()
        world.kube.add_task("waits")  # queued: its Queued write echoes at once
        await world.drain()
        assert world.phase("waits") == ("Pending", "Queued")
        assert world.passes == ["waits"]

    run(scenario)


def _terminated_pod(name: str, message: str, controller_uid: str | None) -> JSON:
    refs = [] if controller_uid is None else [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "x", "uid": controller_uid,
         "controller": True}]
    return {"metadata": {"name": name, "namespace": NS, "ownerReferences": refs},
            "status": {"containerStatuses": [
                {"name": "a", "state": {"terminated": {"exitCode": 0, "message": message}}}]}}


def test_the_result_is_read_only_from_pods_the_attempts_job_controls() -> None:
    """Anyone may label a pod job-name=<job>; only the Job's own pods give the result."""
    async def scenario() -> None:
        world = World()
        await world.start()
        world.kube.add_task("r")
        await world.drain()
        job_uid = world.kube.jobs["r-1"]["metadata"]["uid"]
        listed: list[str] = []

        async def pods(namespace: str, label_selector: str) -> list[JSON]:
            listed.append(label_selector)
            # The impostors come last: without the owner check, theirs would be the message.
            return [_terminated_pod("r-1-abcde", "the real report", job_uid),
                    _terminated_pod("forged", "forged: s3://evil", "uid-of-something-else"),
                    _terminated_pod("unowned", "unowned: s3://evil", None)]

        world.kube.list_pods = pods  # type: ignore[method-assign]
        world.kube.finish_job("r-1")
        await world.drain()
        assert listed == ["job-name=r-1"]
        status = world.kube.tasks["r"]["status"]
        assert status["phase"] == "Completed"
        assert status["result"] == {"attempt": 1, "message": "the real report"}

    run(scenario)


def test_no_result_is_taken_when_only_foreign_pods_carry_the_job_label() -> None:
    async def scenario() -> None:
        world = World()
        await world.start()
        world.kube.add_task("lone")
        await world.drain()

        async def pods(namespace: str, label_selector: str) -> list[JSON]:
            return [_terminated_pod("forged", "forged: s3://evil", "uid-of-something-else")]

        world.kube.list_pods = pods  # type: ignore[method-assign]
        world.kube.finish_job("lone-1")
        await world.drain()
        status = world.kube.tasks["lone"]["status"]
        assert status["phase"] == "Completed"
        assert "forged" not in str(status.get("result"))

    run(scenario)


def _pending_pod(job: JSON, reason: str, message: str) -> JSON:
    uid = job["metadata"]["uid"]
    return {"metadata": {"name": f"{job['metadata']['name']}-abcde",
                         "creationTimestamp": "2026-12-01T12:00:01Z",
                         "labels": {"batch.kubernetes.io/controller-uid": uid},
                         "ownerReferences": [{"kind": "Job", "uid": uid, "controller": True}]},
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": reason,
                 "message": message}]}}


class Clock:
    def __init__(self, world: World) -> None:
        self.now = T0
        world.engine.tasks.clock = lambda: self.now

    def at(self, seconds: float) -> None:
        self.now = T0 + timedelta(seconds=seconds)


async def _pass(world: World, name: str) -> None:
    world.engine.queue.add((NS, name))
    await world.drain()


def test_a_task_whose_pod_starts_reads_no_pods_and_writes_nothing_more() -> None:
    async def scenario() -> None:
        world = World()
        clock = Clock(world)
        await world.start()
        world.kube.add_task("ok")
        await world.drain()
        writes = list(world.kube.writes)
        clock.at(3)
        world.kube.set_job_status("ok-1", active=1, startTime="2026-12-01T12:00:01Z")
        await world.drain()
        clock.at(4)
        world.kube.set_job_status("ok-1", ready=1)
        await world.drain()
        clock.at(60)  # passes long after: a started attempt is never looked at
        await _pass(world, "ok")
        assert world.kube.looks == []
        assert world.kube.writes == writes
        assert world.phase("ok") == ("InProgress", "Running")

    run(scenario)


def test_a_stuck_pod_is_read_when_a_look_is_due_and_not_on_every_pass() -> None:
    async def scenario() -> None:
        world = World()
        clock = Clock(world)
        await world.start()
        world.kube.add_task("stuck")
        await world.drain()
        job = world.kube.jobs["stuck-1"]
        world.kube.pods.append(_pending_pod(job, "Unschedulable", "0/1 nodes are available"))
        clock.at(4)  # 3 s after the Job's creation: too early to look
        world.kube.set_job_status("stuck-1", active=1, startTime="2026-12-01T12:00:01Z")
        await world.drain()
        assert world.kube.looks == []
        clock.at(6.5)  # the first look, 5 s after the Job's start
        await _pass(world, "stuck")
        assert world.kube.looks == ["pods"]  # the pod says why: no Event could matter
        status = world.kube.tasks["stuck"]["status"]
        assert (status["phase"], status["reason"]) == ("InProgress", "Unschedulable")
        assert "0/1 nodes are available" in status["message"]
        writes = len(world.kube.status_writes)
        clock.at(9)  # a pass before the next look reads nothing and keeps the reason
        await _pass(world, "stuck")
        assert world.kube.looks == ["pods"]
        assert len(world.kube.status_writes) == writes
        clock.at(11)  # the second look, 10 s after
        await _pass(world, "stuck")
        assert world.kube.looks == ["pods"] * 2
        assert len(world.kube.status_writes) == writes  # the same words: nothing to write
        world.kube.set_job_status("stuck-1", ready=1)  # the pod starts: the Job says so
        await world.drain()
        assert world.kube.looks == ["pods"] * 2
        assert world.phase("stuck") == ("InProgress", "Running")

    run(scenario)


def test_the_start_timeout_records_the_attempt_before_its_job_is_deleted() -> None:
    async def scenario() -> None:
        world = World()
        clock = Clock(world)
        await world.start()
        world.kube.add_task("late", startTimeout="10s")
        await world.drain()
        job = world.kube.jobs["late-1"]
        world.kube.pods.append(_pending_pod(job, "Unschedulable", "0/1 nodes are available"))
        world.kube.set_job_status("late-1", active=1, startTime="2026-12-01T12:00:01Z")
        clock.at(11)
        await world.drain()
        # Pass 1 writes the record; the pass it wakes deletes the Job.
        await asyncio.wait_for(_until(lambda: ("delete-job", "late-1") in world.kube.writes,
                                      world), timeout=10)
        recorded = [i for i, w in enumerate(world.kube.writes) if w == ("status", "late")]
        deleted = world.kube.writes.index(("delete-job", "late-1"))
        history = world.kube.status_writes[-1][1]["history"]
        assert recorded and recorded[-1] < deleted
        assert history[-1]["reason"] == "Unschedulable"
        assert world.phase("late") == ("Failed", "Unschedulable")
        assert world.kube.writes.count(("delete-job", "late-1")) == 1

    run(scenario)


def test_a_job_without_pods_has_its_failed_create_events_read() -> None:
    async def scenario() -> None:
        world = World()
        clock = Clock(world)
        await world.start()
        world.kube.add_task("refused")
        await world.drain()
        uid = world.kube.jobs["refused-1"]["metadata"]["uid"]
        world.kube.events.append({"involvedObject": {"uid": uid}, "reason": "FailedCreate",
                                  "message": 'Error creating: violates PodSecurity "x"',
                                  "lastTimestamp": "2026-12-01T12:00:02Z"})
        clock.at(7)
        world.kube.set_job_status("refused-1", startTime="2026-12-01T12:00:01Z")
        await world.drain()
        assert world.kube.looks == ["pods", "events"]
        assert world.phase("refused") == ("InProgress", "PodCreateRefused")
        assert "violates PodSecurity" in world.kube.tasks["refused"]["status"]["message"]

    run(scenario)
