"""A second baseline for the queue phase: bare Jobs plus the writes an AgentTask needs, made
directly by the benchmark, with no operator.

The feeder creates the same AgentTasks the operator's run does, and for each makes the
operator's own API calls itself: the status the pure core decides (core.lifecycle.decide)
when it waits (Queued), when its Job is created (build_job, the operator's) and when the Job
has finished, plus the read of its pods for the termination message. Slots go in order of
creation. What is left between this run and the operator's is the operator's own cost
(its watches, passes and CPU); what is between this run and bare Jobs is what recording each
task in its status costs the control plane.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from agenttasks.api.meta import GROUP, VERSION
from agenttasks.api.task import AgentTaskStatus
from agenttasks.core.actions import CreateJob, Decision, Gates
from agenttasks.core.facts import JobFacts, TaskFacts
from agenttasks.core.lifecycle import decide
from agenttasks.manifests.jobs import build_job
from agenttasks.manifests.tasks import status_patch, task_facts
from tests.integration.harness import Api

TIMEOUT_S = 1800


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
    tasks: dict[str, _Task] = {}
    ready: queue.SimpleQueue[str] = queue.SimpleQueue()
    lock = threading.Lock()
    last_completed = [0.0]

    def decided(task: _Task, granted: bool) -> Decision:
        jobs_now = [task.job] if task.job is not None else []
        return decide(task.facts(), jobs_now, datetime.now(UTC),
                      Gates(slot_granted=granted, queue_message="waiting for a free slot"))

    def write(task: _Task, decision: Decision) -> None:
        patch = status_patch(task.status, decision.status)
        if patch is not None:
            api.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, ns, "agenttasks", task.created.name, {"status": patch})
        task.status = decision.status

    def make(i: int) -> None:
        name = f"task-{i}"
        task = _Task(api.custom.create_namespaced_custom_object(
            GROUP, VERSION, ns, "agenttasks", {
                "apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTask",
                "metadata": {"name": name},
                "spec": {"priority": priorities[name], "template": pod}}))
        with lock:
            tasks[name] = task
        if i >= parallelism:  # it waits: the operator writes Queued only then
            write(task, decided(task, granted=False))
        ready.put(name)

    def start(name: str) -> None:
        task = tasks[name]
        decision = decided(task, granted=True)
        create = next(a for a in decision.actions if isinstance(a, CreateJob))
        assert task.created.spec is not None
        api.batch.create_namespaced_job(ns, build_job(task.facts(), task.created.spec,
                                                      create.attempt, create.name))
        task.job = JobFacts(create.name, create.attempt, datetime.now(UTC),
                            owner_uid=task.created.uid)
        write(task, decision)

    def finish(job_name: str) -> None:
        task = tasks[job_name.rsplit("-", 1)[0]]
        assert task.job is not None
        api.core.list_namespaced_pod(ns, label_selector=f"job-name={job_name}")
        task.job = replace(task.job, succeeded=1, outcome="Complete",
                           finished_at=datetime.now(UTC), started_at=task.job.created,
                           termination_message="")
        write(task, decided(task, granted=False))
        with lock:
            last_completed[0] = max(last_completed[0], time.monotonic())

    started = time.monotonic()
    deadline = started + TIMEOUT_S
    done: set[str] = set()
    try:
        with ThreadPoolExecutor(16) as submitter, ThreadPoolExecutor(16) as pool:
            futures = [submitter.submit(make, i) for i in range(count)]
            starts, finishes = 0, 0
            while finishes < count:
                for name in jobs.finished_names():
                    if name not in done:
                        done.add(name)
                        futures.append(pool.submit(finish, name))
                        finishes += 1
                while starts - len(done) < parallelism and not ready.empty():
                    futures.append(pool.submit(start, ready.get()))
                    starts += 1
                if any(f.done() and f.exception() for f in futures) or \
                        time.monotonic() > deadline:
                    break
                time.sleep(0.005)
            for future in futures:
                future.result()  # an API error fails the phase
            if finishes < count:
                raise TimeoutError("the direct-bookkeeping run did not finish in time")
    finally:
        jobs.stop()
        watched.stop()
    return {"wall_s": last_completed[0] - started, "namespace": ns, "jobs": jobs}
