"""What the operator watches: informers feed the indexes, and each event enqueues work.

Handlers are thin: an index holds facts, an event names the keys to reconcile. Our own
informers watch, not kopf: kopf's index pre-population was measured quadratic in the number
of stored objects (over 300 s to start with 10,000 tasks). See docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agenttasks.api.meta import GROUP, LABEL_SCHEDULE, LABEL_TASK, VERSION, Key
from agenttasks.core.facts import JobFacts, TaskEntry
from agenttasks.core.schedule import ChildFacts, ScheduleFacts
from agenttasks.core.triggers import TriggerFacts
from agenttasks.kube.watching import Informer, Resource
from agenttasks.manifests.jobs import job_facts
from agenttasks.manifests.schedules import child_facts, schedule_facts
from agenttasks.manifests.tasks import task_entry

from .engine import Engine
from .index import Body, Index
from .trigger_watch import TRIGGERS, trigger_contribution

TASKS = Resource(GROUP, VERSION, "agenttasks")
SCHEDULES = Resource(GROUP, VERSION, "agenttaskschedules")
JOBS = Resource("batch", "v1", "jobs")


def _key(body: Body) -> Key:
    return str(body["metadata"]["namespace"]), str(body["metadata"]["name"])


def _labels(body: Body) -> Mapping[str, str]:
    return body["metadata"].get("labels") or {}


def _task(body: Body) -> dict[Key, TaskEntry]:
    facts = task_entry(body)
    return {facts.key: facts}


def _job(body: Body) -> dict[Key, JobFacts]:
    facts = job_facts(body)
    task = _labels(body).get(LABEL_TASK)
    return {(_key(body)[0], task): facts} if facts and task else {}


def _dependents(body: Body) -> dict[Key, str]:
    namespace, name = _key(body)
    names = (body.get("spec") or {}).get("dependsOn") or []
    return {(namespace, str(dep)): name for dep in names} if isinstance(names, list) else {}


def _schedule(body: Body) -> dict[Key, ScheduleFacts]:
    facts = schedule_facts(body)
    return {facts.key: facts}


def _schedule_child(body: Body) -> dict[Key, ChildFacts]:
    parent = _labels(body).get(LABEL_SCHEDULE)
    return {(_key(body)[0], parent): child_facts(body)} if parent else {}


ChangeListener = Callable[[str, Key], None]
"""Told of every event after the engine's indexes took it: (kind, (namespace, name))."""


WATCHES_PER_SCOPE = 4  # tasks, Jobs, schedules, triggers


class Watches:
    """The indexes, the informers that fill them, and the keys each event enqueues."""

    def __init__(self, engine: Engine,
                 on_change: ChangeListener = lambda _kind, _key: None) -> None:
        self.engine, self.on_change = engine, on_change
        self.tasks: Index[TaskEntry] = Index(_task)
        self.jobs: Index[JobFacts] = Index(_job)
        self.dependents: Index[str] = Index(_dependents)
        self.schedules: Index[ScheduleFacts] = Index(_schedule)
        self.children: Index[ChildFacts] = Index(_schedule_child)
        self.triggers: Index[TriggerFacts] = Index(trigger_contribution)
        engine.view.attach(self.tasks, self.jobs, self.dependents)
        engine.schedule_view.attach(self.schedules, self.children)
        engine.trigger_index.attach(self.triggers)
        source = engine.kube.connection  # the one client's session, shared
        self.informers = [
            informer for scope in engine.settings.informer_scopes for informer in (
                Informer(source, TASKS, scope, self._filtered(self.on_task)),
                Informer(source, JOBS, scope, self._filtered(self.on_job),
                         label_selector=LABEL_TASK),
                Informer(source, SCHEDULES, scope, self._filtered(self.on_schedule)),
                Informer(source, TRIGGERS, scope, self._filtered(self.on_trigger)),
            )]

    def _filtered(self, handler: Any) -> Any:
        watches = self.engine.settings.watches

        def on_event(kind: str, body: Body) -> None:
            if watches(str(body["metadata"].get("namespace", ""))):
                handler(kind, body)
        return on_event

    def on_task(self, kind: str, body: Body) -> None:
        # The event of our own status write shows what the reconciler already knows: no
        # pass for it (its dependents and schedule still hear of the new status).
        facts = task_entry(body) if kind != "DELETED" else None
        key = facts.key if facts is not None else _key(body)  # (its namespace interned)
        own_write = facts is not None and kind == "MODIFIED" and \
            self.engine.view.only_our_write(facts)
        self.tasks.apply(kind, body, {key: facts} if facts is not None else None)
        for index in (self.dependents, self.children):
            index.apply(kind, body)
        queue = self.engine.queue
        if not own_write:
            queue.add(key)
        self.on_change("AgentTask", key)
        for dependent in self.engine.view.dependents(key):
            queue.add((key[0], dependent))
        parent = _labels(body).get(LABEL_SCHEDULE)
        if parent:
            self.engine.schedule_queue.add((key[0], parent))

    def on_job(self, kind: str, body: Body) -> None:
        self.jobs.apply(kind, body)
        task = _labels(body).get(LABEL_TASK)
        if not task:
            return
        namespace, name = _key(body)
        slots = self.engine.slots
        facts = None if kind == "DELETED" else job_facts(body)
        if facts is None:
            slots.job_gone(namespace, name)
        else:
            slots.job_changed(namespace, task, facts)
        self.engine.queue.add((namespace, task))

    def on_schedule(self, kind: str, body: Body) -> None:
        self.schedules.apply(kind, body)
        self.engine.schedule_queue.add(_key(body))
        self.on_change("AgentTaskSchedule", _key(body))

    def on_trigger(self, kind: str, body: Body) -> None:
        self.triggers.apply(kind, body)
        self.engine.trigger_queue.add(_key(body))
        self.on_change("AgentTaskTrigger", _key(body))
