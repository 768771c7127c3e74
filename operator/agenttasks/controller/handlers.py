"""What the operator watches: informers feed the indexes, and each event enqueues work.

Handlers are thin: an index holds facts, an event names the keys to reconcile. Kopf is kept
for what it does well here (login, peering, the admission webhook server), not for watching.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from agenttasks.api.meta import GROUP, LABEL_SCHEDULE, LABEL_TASK, VERSION
from agenttasks.core.facts import JobFacts, TaskFacts
from agenttasks.core.schedule import ChildFacts, ScheduleFacts
from agenttasks.core.triggers import TriggerFacts
from agenttasks.kube.client import load_api_client
from agenttasks.kube.jobs import job_facts
from agenttasks.kube.schedules import child_facts, schedule_facts
from agenttasks.kube.tasks import task_facts
from agenttasks.kube.triggers import trigger_facts
from agenttasks.kube.watching import Informer, Resource

from .index import Body, Index, Key
from .runtime import Runtime

TASKS = Resource(GROUP, VERSION, "agenttasks")
SCHEDULES = Resource(GROUP, VERSION, "agenttaskschedules")
TRIGGERS = Resource(GROUP, VERSION, "agenttasktriggers")
JOBS = Resource("batch", "v1", "jobs")


def _key(body: Body) -> Key:
    return str(body["metadata"]["namespace"]), str(body["metadata"]["name"])


def _labels(body: Body) -> Mapping[str, str]:
    return body["metadata"].get("labels") or {}


def _task(body: Body) -> dict[Key, TaskFacts]:
    facts = task_facts(body)
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


def _trigger(body: Body) -> dict[Key, TriggerFacts]:
    facts = trigger_facts(body)
    return {facts.key: facts}


class Watches:
    """The indexes, the informers that fill them, and the keys each event enqueues."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.tasks: Index[TaskFacts] = Index(_task)
        self.jobs: Index[JobFacts] = Index(_job)
        self.dependents: Index[str] = Index(_dependents)
        self.schedules: Index[ScheduleFacts] = Index(_schedule)
        self.children: Index[ChildFacts] = Index(_schedule_child)
        self.triggers: Index[TriggerFacts] = Index(_trigger)
        runtime.view.attach(self.tasks, self.jobs, self.dependents)
        runtime.schedule_view.attach(self.schedules, self.children)
        runtime.trigger_index.attach(self.triggers)
        settings = runtime.settings
        scopes: list[str | None] = [None] if settings.clusterwide or settings.uses_patterns \
            else list(settings.namespaces)
        self.informers = [
            informer for scope in scopes for informer in (
                Informer(settings.kubeconfig, TASKS, scope, self._filtered(self.on_task)),
                Informer(settings.kubeconfig, JOBS, scope, self._filtered(self.on_job),
                         label_selector=LABEL_TASK),
                Informer(settings.kubeconfig, SCHEDULES, scope,
                         self._filtered(self.on_schedule)),
                Informer(settings.kubeconfig, TRIGGERS, scope, self._filtered(self.on_trigger)),
            )]

    def _filtered(self, handler: Any) -> Any:
        watches = self.runtime.settings.watches

        def on_event(kind: str, body: Body) -> None:
            if watches(str(body["metadata"].get("namespace", ""))):
                handler(kind, body)
        return on_event

    def on_task(self, kind: str, body: Body) -> None:
        for index in (self.tasks, self.dependents, self.children):
            index.apply(kind, body)
        key = _key(body)
        queue = self.runtime.queue
        queue.add(key)
        for dependent in self.runtime.view.dependents(key):
            queue.add((key[0], dependent))
        parent = _labels(body).get(LABEL_SCHEDULE)
        if parent:
            self.runtime.schedule_queue.add((key[0], parent))

    def on_job(self, kind: str, body: Body) -> None:
        self.jobs.apply(kind, body)
        task = _labels(body).get(LABEL_TASK)
        if not task:
            return
        namespace, name = _key(body)
        dispatcher = self.runtime.dispatcher
        facts = None if kind == "DELETED" else job_facts(body)
        if facts is None:
            dispatcher.job_gone(namespace, name)
        else:
            dispatcher.job_changed(namespace, task, facts)
        self.runtime.queue.add((namespace, task))

    def on_schedule(self, kind: str, body: Body) -> None:
        self.schedules.apply(kind, body)
        self.runtime.schedule_queue.add(_key(body))

    def on_trigger(self, kind: str, body: Body) -> None:
        self.triggers.apply(kind, body)
        self.runtime.trigger_queue.add(_key(body))


def register(registry: kopf.OperatorRegistry, runtime: Runtime) -> None:
    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        # Our own kubeconfig choice (flag, $KUBECONFIG, in-cluster), read afresh on each
        # re-login so that rotated service-account tokens are picked up.
        config = load_api_client(runtime.settings.kubeconfig).configuration
        header = config.get_api_key_with_prefix("BearerToken") or \
            config.get_api_key_with_prefix("authorization") or ""
        scheme, _sep, token = str(header).rpartition(" ")
        return kopf.ConnectionInfo(
            server=config.host, ca_path=config.ssl_ca_cert, insecure=not config.verify_ssl,
            scheme=scheme or None, token=token or None, certificate_path=config.cert_file,
            private_key_path=config.key_file)


def configure(settings: kopf.OperatorSettings, lifetime: int = 30) -> None:
    """Explicit kopf settings: no bookkeeping in annotations, no framework Events."""
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(
        field="status.kopf.diffbase")
    settings.posting.enabled = False
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.peering.standalone = True  # main.run() turns peering on with --peering
    settings.peering.lifetime = lifetime
    settings.networking.request_timeout = 30
