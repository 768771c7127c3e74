"""Reconciles one AgentTask: gathers facts, asks core.lifecycle, applies the decision."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from agenttasks import metrics
from agenttasks.api.meta import ANNOTATION_ADMITTED_AT
from agenttasks.api.task import AgentTaskStatus, Reason, TaskResult
from agenttasks.core.actions import CreateJob, Decision, DeleteJob, Emit, Gates, SetJobSuspended
from agenttasks.core.dependencies import Dependency, DependencyState, evaluate
from agenttasks.core.facts import JobFacts, TaskFacts
from agenttasks.core.lifecycle import decide, reject
from agenttasks.core.plans import Plan, task_refusal
from agenttasks.core.queue import Candidate
from agenttasks.kube.client import ApiError, Kube
from agenttasks.kube.jobs import build_job, controller_uid, job_facts, termination_message
from agenttasks.kube.progress import ProgressTokens, progress_env
from agenttasks.kube.tasks import status_patch
from agenttasks.kube.timefmt import format_time_ms, utcnow

from . import failpoints
from .dispatcher import Dispatcher
from .events import EventRecorder
from .timers import WakeUps
from .view import ClusterView, Key

log = logging.getLogger("agenttasks.tasks")


class TaskReconciler:
    def __init__(self, kube: Kube, view: ClusterView, wakeups: WakeUps, dispatcher: Dispatcher,
                 events: EventRecorder, plan: Plan, tokens: ProgressTokens | None = None,
                 progress_url: str | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.kube, self.view, self.wakeups, self.clock = kube, view, wakeups, clock
        self.dispatcher, self.events, self.plan = dispatcher, events, plan
        self.tokens, self.progress_url = tokens, progress_url

    async def reconcile(self, key: Key) -> None:
        try:
            await self._reconcile(key)
        finally:
            # After the offer: the start-up pass must include this task when it is the last
            # one the dispatcher waits to see (a listing's last name is not its lowest priority).
            self.dispatcher.seen(key)

    async def _reconcile(self, key: Key) -> None:
        task = self.view.task(key)
        if task is None:
            self.wakeups.forget(key)
            self.dispatcher.withdraw(key)
            await self._settle_sent_grant(key, None)
            return
        jobs = await self._owned_jobs(task)
        now = self.clock()
        gates = self._gates(task)
        decision = decide(task, jobs, now, gates)
        if decision.wants_slot and self.dispatcher.offer(self._candidate(task)):
            decision = decide(task, jobs, now, replace(gates, slot_granted=True))
        decision = await self._apply(task, decision, now)
        await self._attach_result(task, jobs, decision)
        self._settle_slot(task, decision)
        await self._write_status(task, decision)
        for action in decision.actions:
            if isinstance(action, Emit):
                self._emit(task, action)
        self.wakeups.at(key, decision.wake_at)

    def _gates(self, task: TaskFacts) -> Gates:
        spec = task.spec
        if spec is None:
            return Gates()
        deps = DependencyState()
        if spec.depends_on and task.status.attempts == 0:
            deps = evaluate(task.name, spec.depends_on,
                            lambda name: self._dependency(task.namespace, name))
        return Gates(slot_granted=self.dispatcher.has_grant(task.key),
                     queue_message=self.dispatcher.queue_message(task.namespace),
                     dependencies=deps, plan_refusal=task_refusal(self.plan, spec))

    def _dependency(self, namespace: str, name: str) -> Dependency | None:
        facts = self.view.task((namespace, name))
        if facts is None:
            return None
        deps = tuple(facts.spec.depends_on) if facts.spec else ()
        return Dependency(phase=facts.status.phase, reason=facts.status.reason, depends_on=deps)

    def _candidate(self, task: TaskFacts) -> Candidate:
        assert task.spec is not None
        since = task.status.next_retry_time or task.created
        return Candidate(task.namespace, task.name, task.spec.priority, task.created, since)

    def _settle_slot(self, task: TaskFacts, decision: Decision) -> None:
        """A grant under which nothing was sent is given back when the task no longer
        wants it; one under which a request went out ends when its Job is seen."""
        starts = any(isinstance(a, CreateJob) or (isinstance(a, SetJobSuspended) and
                                                  not a.suspend) for a in decision.actions)
        if not starts and not decision.wants_slot:
            self.dispatcher.withdraw(task.key)

    async def _owned_jobs(self, task: TaskFacts) -> list[JobFacts]:
        jobs = [j for j in self.view.jobs(task.key) if j.owner_uid == task.uid]
        status = task.status
        # The index can lag behind a Job we just created: ask the API server before a missing
        # Job of the current attempt is taken for a deleted one.
        if status.attempts and not status.terminal() and status.job_name and not any(
                j.attempt == status.attempts for j in jobs):
            body = await self.kube.get_job(task.namespace, status.job_name)
            if body and controller_uid(body) == task.uid and (facts := job_facts(body)):
                jobs.append(facts)
        sent = await self._settle_sent_grant(task.key, task.uid)
        if sent is not None and not any(j.name == sent.name for j in jobs):
            jobs.append(sent)
        return jobs

    async def _settle_sent_grant(self, key: Key, uid: str | None) -> JobFacts | None:
        """A grant under which a create was sent, whose Job the watch has not shown yet:
        the API server says whether it exists. If it does, its facts count in this
        decision (the grant holds the slot until the watch shows the Job: only the watch
        feeds the ledger, so a re-list can report every Job it knew as gone); if not,
        nothing runs under the grant and its slot is free again."""
        name = self.dispatcher.awaited_job(key)
        if name is None or any(j.name == name for j in self.view.jobs(key)):
            return None
        body = await self.kube.get_job(key[0], name)
        if body is None:
            self.dispatcher.release(key)
            return None
        facts = job_facts(body)
        if facts is None or uid is None or controller_uid(body) != uid:
            return None
        return facts

    async def _apply(self, task: TaskFacts, decision: Decision, now: datetime) -> Decision:
        for action in decision.actions:
            if isinstance(action, CreateJob):
                failure = await self._create_job(task, action)
                if failure:
                    return reject(task, failure, now)
            elif isinstance(action, SetJobSuspended):
                if not action.suspend:
                    self.dispatcher.sent(task.key, action.name)
                await self.kube.set_job_suspended(task.namespace, action.name, action.suspend)
            elif isinstance(action, DeleteJob):
                await self.kube.delete_job(task.namespace, action.name)
        return decision

    async def _create_job(self, task: TaskFacts, action: CreateJob) -> str | None:
        """Creates the attempt's Job, or adopts it if an earlier run already did.
        Returns why the spec cannot run, when the API server refuses it."""
        assert task.spec is not None
        env = None
        if self.tokens is not None and self.progress_url:
            await self.tokens.ensure(task, action.attempt)  # before the Job: pods read it
            env = progress_env(task, self.progress_url)
        body = build_job(task, task.spec, action.attempt, action.name, env)
        granted = self.dispatcher.granted_at(task.key)  # read now: the Job's event ends it
        if granted is not None:  # how long the queue held it, for users and the benchmark
            body["metadata"]["annotations"] = {ANNOTATION_ADMITTED_AT: format_time_ms(granted)}
        # From here the grant lasts until its Job is seen: the create may succeed even if
        # its answer is lost.
        self.dispatcher.sent(task.key, action.name)
        try:
            await self.kube.create_job(body)
            failpoints.hit("after-job-create")
            if granted is not None:
                metrics.SLOT_TO_JOB.observe((self.clock() - granted).total_seconds())
            log.info("created Job %s/%s for attempt %d", task.namespace, action.name,
                     action.attempt)
        except ApiError as exc:
            if exc.invalid:
                self.dispatcher.release(task.key)  # refused: no Job exists under the grant
                return f"the API server refused the Job: {exc.message}"
            if not exc.conflict:
                raise
            existing = await self.kube.get_job(task.namespace, action.name)
            if existing is None:
                raise
            if controller_uid(existing) != task.uid:
                self.dispatcher.release(task.key)
                return f"a Job named {action.name} already exists and belongs to something else"
            log.info("adopted existing Job %s/%s", task.namespace, action.name)
        return None

    async def _attach_result(self, task: TaskFacts, jobs: list[JobFacts],
                             decision: Decision) -> None:
        """The finished attempt's termination message, read once from its pod."""
        finished = [j for j in jobs if j.finished]
        if not finished:
            return
        latest = max(finished, key=lambda j: j.attempt)
        known = decision.status.result
        if known is not None and known.attempt >= latest.attempt:
            return
        message = ""
        for pod in await self.kube.list_pods(task.namespace, f"job-name={latest.name}"):
            message = termination_message(pod) or message
        decision.status.result = TaskResult(attempt=latest.attempt, message=message[:4096])

    async def _write_status(self, task: TaskFacts, decision: Decision) -> None:
        patch = status_patch(task.status, decision.status)
        if patch is None:
            return
        result = await self.kube.patch_status("agenttasks", task.namespace, task.name, patch)
        self.view.remember_status(task.key, result["metadata"]["resourceVersion"],
                                  decision.status)
        _count_transitions(task.namespace, task.status, decision.status)

    def _emit(self, task: TaskFacts, event: Emit) -> None:
        self.events.record("AgentTask", task.namespace, task.name, task.uid, event)


def _count_transitions(namespace: str, old: AgentTaskStatus, new: AgentTaskStatus) -> None:
    """Metrics for what this status write changed; each transition is written once."""
    if new.reason != old.reason:
        if new.reason == Reason.RETRY_SCHEDULED:
            metrics.RETRIES.labels(namespace).inc()
        elif new.reason == Reason.DEADLINE_EXCEEDED:
            metrics.DEADLINE_MISSES.labels(namespace).inc()
    for record in new.history[len(old.history):]:
        if record.reason == Reason.TIMED_OUT:
            metrics.TIMEOUTS.labels(namespace).inc()
