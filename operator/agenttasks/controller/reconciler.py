"""Reconciles one AgentTask: gathers the facts, asks core.lifecycle once, applies the answer.

A pass reads everything the decision needs first (the task, its Jobs, the slot ledger's
grant, the agent's newest progress report, a finished attempt's termination message), calls
``decide``, and then only carries out what it returned. The one exception argues for itself:
a decision made without a slot, when the ledger grants one as it is offered the task, is
stale at once; it is dropped unapplied and decided again, in the same pass, over the same
facts with the grant. So a task admitted at once starts in one pass, with its Job and an
InProgress status and no Queued write; a task that waits is queued in one pass and started
in the pass its grant wakes.

The view holds a terminal task as a summary (core.facts.TaskSummary). Its pass asks
core.lifecycle.settled first, which says from the summary and the Jobs alone that ``decide``
would change nothing (the start-up pass over every stored task reads and writes nothing);
otherwise the whole task is read from the API server and decided as any other. Before
either, core.lifecycle.expiry says from the summary whether its ttlAfterFinished has passed:
then the task is deleted, unread, and the pass ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from agenttasks import metrics
from agenttasks.api.meta import ANNOTATION_GRANTED_AT, Key
from agenttasks.api.task import AgentTaskStatus, Progress, Reason
from agenttasks.api.timefmt import format_time_ms, utcnow
from agenttasks.core.actions import (
    CreateJob,
    Decision,
    DeleteJob,
    DeleteTask,
    Emit,
    Gates,
    SetJobSuspended,
    SetWorkloadActive,
)
from agenttasks.core.dependencies import Dependency, DependencyState, evaluate
from agenttasks.core.facts import FailedPod, JobFacts, TaskFacts, TaskSummary
from agenttasks.core.lifecycle import decide, expiry, settled
from agenttasks.core.pipelines import inputs_document
from agenttasks.core.plans import Plan, task_refusal
from agenttasks.core.privilege import OperatorIdentity, identity_refusal
from agenttasks.core.queue import candidate_of
from agenttasks.core.start_check import needs_events, needs_look
from agenttasks.inbox.agent_reports import ProgressInbox
from agenttasks.kube.client import ApiError, Kube
from agenttasks.manifests.jobs import build_job, failed_pod, job_facts, termination_message
from agenttasks.manifests.owners import controller_uid
from agenttasks.manifests.progress_token import ProgressWiring
from agenttasks.manifests.start_facts import JOB_UID_LABEL, start_facts
from agenttasks.manifests.tasks import dependency_result, status_patch, task_facts

from . import failpoints
from .events import EventRecorder
from .slot_keeper import SlotKeeper
from .task_view import TaskView
from .timers import WakeUps

log = logging.getLogger("agenttasks.tasks")
MAX_FAILED_PODS = 100  # failed pods judged by the failure rules; enough to find a rule
START_PODS_LIMIT = 20  # pods read per look at an attempt that has not started
START_EVENTS_LIMIT = 10  # FailedCreate Events read per look (one series per message)


@dataclass(frozen=True)
class _Facts:
    """Everything one decision is made from, read before it is made."""

    jobs: list[JobFacts]
    gates: Gates
    report: Progress | None


class TaskReconciler:
    def __init__(self, kube: Kube, view: TaskView, wakeups: WakeUps, slots: SlotKeeper,
                 events: EventRecorder, plan: Plan, progress: ProgressWiring | None,
                 reports: ProgressInbox,
                 again: Callable[[Key], None], identity: OperatorIdentity,
                 clock: Callable[[], datetime] = utcnow,
                 default_ttl: timedelta | None = None) -> None:
        self.kube, self.view, self.wakeups, self.clock = kube, view, wakeups, clock
        self.default_ttl = default_ttl  # --default-ttl-after-finished: None keeps tasks
        self.identity = identity  # whose namespace and ServiceAccount no task may use
        self.again = again  # another pass of a key, after this one: the engine's queue
        self.slots, self.events, self.plan = slots, events, plan
        self.progress = progress  # where pods report to, with which token audience
        self.reports = reports
        # Why the API server refused the Job a pass tried to create: the next pass decides
        # on it. In memory only: after a restart the create is tried (and refused) again.
        self._refused: dict[Key, tuple[str, str]] = {}
        # Passes since the task last became ready to start, for the start-passes metric.
        self._passes: dict[Key, int] = {}
        # The uid of each expired task whose delete was sent: the events of its foreground
        # deletion (its own, its Jobs') bring passes, which need not send it again.
        self._deleting: dict[Key, str] = {}
        # When the pods of the task's not-yet-started attempt were last read: (the Job's uid,
        # when). In memory only: after a restart a due look reads them once more.
        self._looked: dict[Key, tuple[str, datetime]] = {}
        # The status a pass decided after it created an attempt's Job, when the write of
        # that status failed: (the task's uid, the status). Until the task's own status
        # records that attempt, passes decide from this one, so that the Job, if it is
        # deleted meanwhile, counts as the attempt's deleted Job (JobDeleted) and is not
        # created again under the same name. In memory only: after a restart in that window
        # nothing in the cluster says the Job ever existed (as for the CronJob controller's
        # status.active).
        self._unrecorded: dict[Key, tuple[str, AgentTaskStatus]] = {}

    async def reconcile(self, key: Key) -> None:
        try:
            await self._reconcile(key)
        finally:
            # After the offer: the start-up pass must include this task when it is the last
            # one the ledger waits to see (a listing's last name is not its lowest priority).
            self.slots.seen(key)

    async def _reconcile(self, key: Key) -> None:
        entry = self.view.entry(key)
        if entry is None:
            await self._forget(key)
            return
        if isinstance(entry, TaskSummary):
            ending = expiry(entry, self.clock(), self.default_ttl)
            if isinstance(ending, DeleteTask):
                await self._delete_task(key, ending)  # without reading it
                return
            task = await self._whole(key, entry, ending)
        else:
            task = entry
        if task is None:
            return
        recorded = task.status  # what the API server holds: status patches start from it
        task = self._with_unrecorded_attempt(task)
        facts = await self._gather(task)
        now = self.clock()
        decision = decide(task, facts.jobs, now, facts.gates, facts.report,
                          default_ttl=self.default_ttl)
        deletion = next((a for a in decision.actions if isinstance(a, DeleteTask)), None)
        if deletion is not None:
            await self._delete_task(key, deletion)
            return
        if decision.wants_slot or _starts(decision):
            self._passes[key] = self._passes.get(key, 0) + 1
        if decision.wants_slot and self.slots.offer(candidate_of(task)):
            # Stale without the slot just granted: the same facts, with the grant.
            granted = replace(facts.gates, slot_granted=True)
            decision = decide(task, facts.jobs, now, granted, facts.report,
                              default_ttl=self.default_ttl)
        starts = _starts(decision)
        if not starts and not decision.wants_slot:
            self.slots.withdraw(key)  # a grant under which nothing was sent goes back
            self._passes.pop(key, None)
        if not await self._apply(task, decision):
            return  # the Job was refused: the next pass fails the task, saying why
        try:
            await self._write_status(task, recorded, decision, facts.report)
        except BaseException:
            if any(isinstance(a, CreateJob) for a in decision.actions):
                self._unrecorded[key] = (task.uid, decision.status)
            raise
        self._unrecorded.pop(key, None)
        for action in decision.actions:
            if isinstance(action, Emit):
                self.events.record("AgentTask", task.namespace, task.name, task.uid, action)
        self.wakeups.at(key, self._wake_at(key, decision.wake_at))
        if decision.status.terminal():
            self._forget_attempt(key)

    async def _whole(self, key: Key, task: TaskSummary, expires: datetime | None
                     ) -> TaskFacts | None:
        """A terminal task's whole facts from the API server, when its Jobs say something
        its status does not hold yet; None when the pass has nothing to do (``settled``:
        what ``decide`` would answer, without reading the task, its wake-up at ``expires``
        when it is to be deleted then), or the task is gone. ``key``: the pass's own, which
        the wake-up keeps (the index's tuple, not another copy per stored task)."""
        jobs = await self._owned_jobs(task.key, task.uid, None)
        if settled(task, jobs):
            self._refused.pop(task.key, None)
            self.slots.withdraw(task.key)
            self._passes.pop(task.key, None)
            if (report := self.reports.due(task.key)) is not None:
                self.reports.written(task.key, report)
            self.wakeups.at(key, self._wake_at(key, expires))
            self._forget_attempt(task.key)
            return None
        body = await self.kube.get_object("agenttasks", task.namespace, task.name)
        return task_facts(body) if body is not None else None  # gone: its event will say

    def _with_unrecorded_attempt(self, task: TaskFacts) -> TaskFacts:
        """``task`` with the status a failed write would have recorded (``_unrecorded``),
        while its own status has not recorded that attempt."""
        kept = self._unrecorded.get(task.key)
        if kept is None:
            return task
        uid, status = kept
        if uid != task.uid or task.status.attempts >= status.attempts:
            del self._unrecorded[task.key]  # recorded (the failed write may have landed)
            return task
        return replace(task, status=status)

    def _wake_at(self, key: Key, wake_at: datetime | None) -> datetime | None:
        """The decision's wake-up, or sooner when an agent's report waits for its turn."""
        delay = self.reports.waiting(key)
        if delay is None:
            return wake_at
        report_due = self.clock() + timedelta(seconds=delay)
        return min(report_due, wake_at) if wake_at else report_due

    # --- facts ------------------------------------------------------------------------------
    async def _gather(self, task: TaskFacts) -> _Facts:
        jobs = await self._owned_jobs(task.key, task.uid, task.status)
        jobs = await self._read_result(task, jobs)
        jobs = await self._read_start(task, jobs)
        refused = self._refused.pop(task.key, None)
        why = refused[1] if refused and refused[0] == task.uid else None
        return _Facts(jobs, replace(self._gates(task), job_refused=why),
                      self.reports.due(task.key))

    def _gates(self, task: TaskFacts) -> Gates:
        spec = task.spec
        if spec is None:
            return Gates()
        deps = DependencyState()
        if spec.depends_on and task.status.attempts == 0:
            deps = evaluate(task.name, spec.depends_on,
                            lambda name: self._dependency(task.namespace, name))
        return Gates(slot_granted=self.slots.granted_at(task.key) is not None,
                     queue_message=self.slots.queue_message(candidate_of(task)),
                     dependencies=deps, plan_refusal=task_refusal(self.plan, spec),
                     identity_refusal=identity_refusal(task.namespace, spec.template,
                                                       self.identity))

    def _dependency(self, namespace: str, name: str) -> Dependency | None:
        facts = self.view.summary((namespace, name))
        if facts is None:
            return None
        return Dependency(phase=facts.phase, reason=facts.reason, depends_on=facts.depends_on)

    async def _owned_jobs(self, key: Key, uid: str, status: AgentTaskStatus | None
                          ) -> list[JobFacts]:
        """The Jobs the task owns; ``status`` None: a terminal task's (nothing is awaited)."""
        jobs = [j for j in self.view.jobs(key) if j.owner_uid == uid]
        # The index can lag behind a Job we just created: ask the API server before a missing
        # Job of the current attempt is taken for a deleted one.
        if status is not None and status.attempts and not status.terminal() and \
                status.job_name and not any(j.attempt == status.attempts for j in jobs):
            body = await self.kube.get_job(key[0], status.job_name)
            if body and controller_uid(body) == uid and (facts := job_facts(body)):
                jobs.append(facts)
        sent = await self._settle_sent_grant(key, uid)
        if sent is not None and not any(j.name == sent.name for j in jobs):
            jobs.append(sent)
        return jobs

    async def _settle_sent_grant(self, key: Key, uid: str | None) -> JobFacts | None:
        """A grant under which a create was sent, whose Job the watch has not shown yet:
        the API server says whether it exists. If it does, its facts count in this
        decision (the grant holds the slot until the watch shows the Job: only the watch
        feeds the ledger, so a re-list can report every Job it knew as gone); if not,
        nothing runs under the grant and its slot is free again."""
        name = self.slots.awaited_job(key)
        if name is None or any(j.name == name for j in self.view.jobs(key)):
            return None
        body = await self.kube.get_job(key[0], name)
        if body is None:
            self.slots.release(key)
            return None
        facts = job_facts(body)
        if facts is None or uid is None or controller_uid(body) != uid:
            return None
        return facts

    async def _read_result(self, task: TaskFacts, jobs: list[JobFacts]) -> list[JobFacts]:
        """The newest finished attempt's termination message, and how its failed pods ended
        (for the failure rules), read once from its pods when status has no result for that
        attempt yet. Only pods the Job controls count: the
        ``job-name`` label is anyone's to set on a pod of their own."""
        finished = [j for j in jobs if j.finished]
        if not finished:
            return jobs
        latest = max(finished, key=lambda j: j.attempt)
        known = task.status.result
        if known is not None and known.attempt >= latest.attempt:
            return jobs
        message, failed = "", list[FailedPod]()
        for pod in await self.kube.list_pods(task.namespace, f"job-name={latest.name}"):
            if latest.uid is not None and controller_uid(pod) == latest.uid:
                message = termination_message(pod) or message
                if (ended := failed_pod(pod)) is not None and len(failed) < MAX_FAILED_PODS:
                    failed.append(ended)
        return [replace(j, termination_message=message, failed_pods=tuple(failed))
                if j is latest else j for j in jobs]

    async def _read_start(self, task: TaskFacts, jobs: list[JobFacts]) -> list[JobFacts]:
        """The pods and FailedCreate Events of the current attempt's Job, read only while it
        has not started and a look is due (core.start_check.needs_look): a task whose pod
        starts within its first seconds is never looked at, and a stuck one at most every
        30 s and at its start timeout. Both lists are bounded, and the Events are read only
        when the pods give no reason of their own."""
        spec = task.spec
        if spec is None or not jobs:
            return jobs
        current = max(jobs, key=lambda j: j.attempt)
        if current.attempt < task.status.attempts or current.uid is None:
            return jobs
        looked = self._looked.get(task.key)
        last = looked[1] if looked and looked[0] == current.uid else None
        now = self.clock()
        if not needs_look(task.status, spec, current, last, now):
            return jobs
        pods = await self.kube.list_pods(task.namespace, f"{JOB_UID_LABEL}={current.uid}",
                                         limit=START_PODS_LIMIT)
        facts = start_facts(current.uid, pods, [])
        if needs_events(facts):
            events = await self.kube.list_events_of(task.namespace, current.uid,
                                                    "FailedCreate", limit=START_EVENTS_LIMIT)
            facts = start_facts(current.uid, pods, events)
        self._looked[task.key] = (current.uid, now)
        return [replace(j, start=facts) if j is current else j for j in jobs]

    # --- applying the decision --------------------------------------------------------------
    async def _apply(self, task: TaskFacts, decision: Decision) -> bool:
        """Carries out the decision's actions; False if the API server refused its Job, so
        that the status it described (a running attempt) is not written."""
        for action in decision.actions:
            if isinstance(action, CreateJob):
                if not await self._create_job(task, action):
                    return False
            elif isinstance(action, SetJobSuspended):
                if not action.suspend:
                    self.slots.sent(task.key, action.name)
                    self._started(task.key)
                await self.kube.set_job_suspended(task.namespace, action.name, action.suspend)
            elif isinstance(action, SetWorkloadActive):
                await self._set_workload_active(task, action)
            elif isinstance(action, DeleteJob):
                await self.kube.delete_job(task.namespace, action.name)
        return True

    async def _set_workload_active(self, task: TaskFacts, action: SetWorkloadActive) -> None:
        """A Kueue task's pause or resume. Kueue makes the Workload shortly after the Job:
        until then the pass fails, and its retry (before any status is written) sends it."""
        patched = await self.kube.set_workload_active(task.namespace, action.job_uid,
                                                      action.active)
        if patched is None:
            raise RuntimeError(f"cannot {'resume' if action.active else 'pause'} Job "
                               f"{action.job}: the API server serves no Kueue Workloads "
                               "(is Kueue installed?)")
        if not patched:
            raise RuntimeError(f"Kueue has no Workload for Job {action.job} yet")
        log.info("%s Kueue's Workload of Job %s/%s", "activated" if action.active else
                 "deactivated", task.namespace, action.job)

    async def _create_job(self, task: TaskFacts, action: CreateJob) -> bool:
        """Creates the attempt's Job, or adopts it if an earlier run already did. A Job the
        API server refuses is remembered for the next pass, which fails the task (False)."""
        assert task.spec is not None
        body = build_job(task, task.spec, action.attempt, action.name, self.progress,
                         action.items, action.memory, await self._inputs(task))
        granted = self.slots.granted_at(task.key)
        if granted is not None:  # how long the queue held it, for users and the benchmark
            body["metadata"]["annotations"] = {ANNOTATION_GRANTED_AT: format_time_ms(granted)}
        # From here the grant lasts until its Job is seen: the create may succeed even if
        # its answer is lost.
        self.slots.sent(task.key, action.name)
        self._started(task.key)
        try:
            await self.kube.create_job(body)
            failpoints.hit("after-job-create")
            if granted is not None:
                metrics.SLOT_TO_JOB.observe((self.clock() - granted).total_seconds())
            log.info("created Job %s/%s for attempt %d", task.namespace, action.name,
                     action.attempt)
        except ApiError as exc:
            if exc.invalid:
                self._refuse(task, f"the API server refused the Job: {exc.message}")
                return False
            if not exc.conflict:
                raise
            existing = await self.kube.get_job(task.namespace, action.name)
            if existing is None:
                raise
            if controller_uid(existing) != task.uid:
                self._refuse(task, f"a Job named {action.name} already exists and belongs "
                             "to something else")
                return False
            log.info("adopted existing Job %s/%s", task.namespace, action.name)
        return True

    async def _inputs(self, task: TaskFacts) -> str | None:
        """The results of the task's dependencies for its Job's pods (core.pipelines), or
        None without dependsOn. Each dependency is read once, now, from the API server: the
        view's summaries keep no result message (50,000 stored tasks stay small), and a read
        is no write. It is part of the Job's create, which writes nothing more."""
        assert task.spec is not None
        names = task.spec.depends_on
        if not names:
            return None
        bodies = await asyncio.gather(*(self.kube.get_object("agenttasks", task.namespace, name)
                                        for name in names))
        return inputs_document([dependency_result(name, body)
                                for name, body in zip(names, bodies, strict=True)])

    async def _delete_task(self, key: Key, action: DeleteTask) -> None:
        """Deletes a finished task whose TTL has passed: the one writer of a task's fate is
        its reconciler. Foreground, as the Job TTL controller deletes a Job: the task stays
        (with a deletionTimestamp) until the garbage collector has deleted its Jobs and their
        pods, so when it is gone, so is everything it ran; and a task created again under
        its name (a GitOps tool restoring it) can never meet its predecessor's Jobs, whose
        names it would reuse. The uid precondition: a task created since under the same
        name is never deleted (409); one gone already (404) is success too."""
        self.wakeups.at(key, None)
        if self._deleting.get(key) == action.uid:
            return  # sent; the garbage collector is at work
        try:
            await self.kube.delete_object("agenttasks", key[0], key[1], uid=action.uid,
                                          propagation="Foreground")
            log.info("deleted AgentTask %s/%s (ttlAfterFinished)", *key)
        except ApiError as exc:
            if not exc.conflict:
                raise
            log.info("AgentTask %s/%s is another task now; the expired one is gone", *key)
        self._deleting[key] = action.uid

    def _refuse(self, task: TaskFacts, why: str) -> None:
        """No Job exists under the grant: its slot is free, and the next pass decides."""
        self.slots.release(task.key)
        self._refused[task.key] = (task.uid, why)
        self.again(task.key)

    def _started(self, key: Key) -> None:
        passes = self._passes.pop(key, None)
        if passes is not None:
            metrics.START_PASSES.observe(passes)

    async def _write_status(self, task: TaskFacts, recorded: AgentTaskStatus,
                            decision: Decision, report: Progress | None) -> None:
        """Patches ``recorded`` (the status the API server holds) into the decision's."""
        patch = status_patch(recorded, decision.status)
        if patch is not None:
            self.view.writing(task.key, decision.status)
            revision = None
            try:
                result = await self.kube.patch_status("agenttasks", task.namespace,
                                                      task.name, patch)
                revision = str(result["metadata"]["resourceVersion"])
            finally:
                self.view.written(task.key, revision, decision.status)
            _count_transitions(task.namespace, recorded, decision.status)
        if report is not None:
            self.reports.written(task.key, report)

    async def _forget(self, key: Key) -> None:
        """The task is gone: nothing of it is kept, and a grant it held goes back."""
        self.wakeups.forget(key)
        self.slots.withdraw(key)
        self._passes.pop(key, None)
        self._refused.pop(key, None)
        self._deleting.pop(key, None)
        self._unrecorded.pop(key, None)
        self._forget_attempt(key)
        await self._settle_sent_grant(key, None)

    def _forget_attempt(self, key: Key) -> None:
        self.reports.forget(key)
        self._looked.pop(key, None)


def _starts(decision: Decision) -> bool:
    return any(isinstance(a, CreateJob) or (isinstance(a, SetJobSuspended) and not a.suspend)
               for a in decision.actions)


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
