"""A second baseline for the queue phase: bare Jobs plus the writes an AgentTask needs, made
directly by the benchmark, with no operator.

The feeder creates the same AgentTasks the operator's run does, and for each makes the
operator's own API calls itself: the status the pure core decides (core.lifecycle.decide)
when it waits (Queued), when its Job is created (build_job, the operator's) and when the Job
has finished, plus the read of its pods for the termination message. Slots go in order of
creation. The feeder is one asyncio loop on the operator's own client (aiohttp), so that
the benchmark's own CPU does not make it slower than the operator. What is left between
this run and the operator's is the operator's own cost (its watches, passes and CPU); what
is between this run and bare Jobs is what recording each task costs the control plane.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from agenttasks.api.meta import GROUP, VERSION
from agenttasks.api.task import AgentTaskStatus
from agenttasks.core.actions import CreateJob, Decision, Gates
from agenttasks.core.facts import JobFacts, TaskFacts
from agenttasks.core.lifecycle import decide
from agenttasks.kube.client import Kube
from agenttasks.manifests.jobs import build_job
from agenttasks.manifests.tasks import status_patch, task_facts
from tests.integration.harness import Api

TIMEOUT_S = 1800
SUBMITTERS = 16  # creates in flight, as the other runs' 16 submitting threads


class Watch(Protocol):
    def stop(self) -> None: ...


class Jobs(Watch, Protocol):
    def finished_names(self) -> list[str]: ...


class _Task:
    """One task as the feeder keeps it: its facts as created, and its status as written."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.created = task_facts(body)
        self.status: AgentTaskStatus = self.created.status
        self.job: JobFacts | None = None

    def facts(self) -> TaskFacts:
        return replace(self.created, status=self.status)


def run_direct_bookkeeping(api: Api, parallelism: int, count: int, pod: dict[str, Any],
                           priorities: dict[str, int], job_watch: Callable[[Api, str], Jobs],
                           task_watch: Callable[[Api, str], Watch]) -> dict[str, Any]:
    """The bare-Job feeder's loop, with each task's writes. ``job_watch`` and ``task_watch``
    start bench_queue's JobWatch and QueuedWatch (the operator's run has both too).
    Returns the wall time, from the first create to the last Completed write."""
    ns = api.create_namespace("bench-direct")
    jobs, watched = job_watch(api, ns), task_watch(api, ns)
    try:
        feeder = _Feeder(Kube(api.kubeconfig, connections=64), ns, parallelism, pod, priorities)
        wall = asyncio.run(feeder.run(count, jobs))
    finally:
        jobs.stop()
        watched.stop()
    return {"wall_s": wall, "namespace": ns, "jobs": jobs}


class _Feeder:
    def __init__(self, kube: Kube, ns: str, parallelism: int, pod: dict[str, Any],
                 priorities: dict[str, int]) -> None:
        self.kube, self.ns, self.parallelism = kube, ns, parallelism
        self.pod, self.priorities = pod, priorities
        self.tasks: dict[str, _Task] = {}
        self.ready: deque[str] = deque()
        self.last_completed = 0.0

    async def run(self, count: int, jobs: Jobs) -> float:
        started = time.monotonic()
        deadline = started + TIMEOUT_S
        running: set[asyncio.Task[None]] = set()

        def spawn(work: Coroutine[Any, Any, None]) -> None:
            running.add(asyncio.ensure_future(work))

        numbers = iter(range(count))
        for _ in range(SUBMITTERS):
            spawn(self._submit(numbers))
        done: set[str] = set()
        starts = 0
        try:
            while len(done) < count:
                for name in jobs.finished_names():
                    if name not in done:
                        done.add(name)
                        spawn(self._finish(name))
                while starts - len(done) < self.parallelism and self.ready:
                    spawn(self._start(self.ready.popleft()))
                    starts += 1
                for task in [t for t in running if t.done()]:
                    running.discard(task)
                    task.result()  # an API error fails the phase
                if time.monotonic() > deadline:
                    raise TimeoutError("the direct-bookkeeping run did not finish in time")
                await asyncio.sleep(0.005)
            await asyncio.gather(*running)
        finally:
            for task in running:
                task.cancel()
            await self.kube.close()
        return self.last_completed - started

    def _decided(self, task: _Task, granted: bool) -> Decision:
        jobs_now = [task.job] if task.job is not None else []
        return decide(task.facts(), jobs_now, datetime.now(UTC),
                      Gates(slot_granted=granted, queue_message="waiting for a free slot"))

    async def _write(self, task: _Task, decision: Decision) -> None:
        patch = status_patch(task.status, decision.status)
        if patch is not None:
            await self.kube.patch_status("agenttasks", self.ns, task.created.name, patch)
        task.status = decision.status

    async def _submit(self, numbers: Any) -> None:
        for i in numbers:
            name = f"task-{i}"
            task = _Task(await self.kube.create_object("agenttasks", {
                "apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTask",
                "metadata": {"name": name, "namespace": self.ns},
                "spec": {"priority": self.priorities[name], "template": self.pod}}))
            self.tasks[name] = task
            if i >= self.parallelism:  # it waits: the operator writes Queued only then
                await self._write(task, self._decided(task, granted=False))
            self.ready.append(name)

    async def _start(self, name: str) -> None:
        task = self.tasks[name]
        decision = self._decided(task, granted=True)
        create = next(a for a in decision.actions if isinstance(a, CreateJob))
        assert task.created.spec is not None
        await self.kube.create_job(build_job(task.facts(), task.created.spec, create.attempt,
                                             create.name))
        task.job = JobFacts(create.name, create.attempt, datetime.now(UTC),
                            owner_uid=task.created.uid)
        await self._write(task, decision)

    async def _finish(self, job_name: str) -> None:
        task = self.tasks[job_name.rsplit("-", 1)[0]]
        assert task.job is not None
        await self.kube.list_pods(self.ns, f"job-name={job_name}")  # the result's read
        task.job = replace(task.job, succeeded=1, outcome="Complete",
                           finished_at=datetime.now(UTC), started_at=task.job.created,
                           termination_message="")
        await self._write(task, self._decided(task, granted=False))
        self.last_completed = max(self.last_completed, time.monotonic())
