"""Kopf registrations. Handlers are thin: indexes hold facts, events enqueue work."""

from __future__ import annotations

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

from .runtime import Runtime


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

    @kopf.index(GROUP, VERSION, "agenttasks", id="task_index", registry=registry)
    async def task_index(body: kopf.Body, **_: Any) -> dict[tuple[str, str], TaskFacts]:
        facts = task_facts(dict(body))
        return {facts.key: facts}

    @kopf.index("batch", "v1", "jobs", labels={LABEL_TASK: kopf.PRESENT}, id="job_index",
                registry=registry)
    async def job_index(body: kopf.Body, labels: kopf.Labels,
                        **_: Any) -> dict[tuple[str, str], JobFacts]:
        facts = job_facts(dict(body))
        return {(str(body.metadata.namespace), labels[LABEL_TASK]): facts} if facts else {}

    @kopf.index(GROUP, VERSION, "agenttasks", id="dependents_index", registry=registry)
    async def dependents_index(body: kopf.Body, **_: Any) -> dict[tuple[str, str], str]:
        namespace, name = str(body.metadata.namespace), str(body.metadata.name)
        names = (body.get("spec") or {}).get("dependsOn") or []
        return {(namespace, str(dep)): name for dep in names}

    @kopf.index(GROUP, VERSION, "agenttaskschedules", id="schedule_index", registry=registry)
    async def schedule_index(body: kopf.Body, **_: Any) -> dict[tuple[str, str], ScheduleFacts]:
        facts = schedule_facts(dict(body))
        return {facts.key: facts}

    @kopf.index(GROUP, VERSION, "agenttasks", labels={LABEL_SCHEDULE: kopf.PRESENT},
                id="schedule_children_index", registry=registry)
    async def schedule_children_index(body: kopf.Body, labels: kopf.Labels,
                                      **_: Any) -> dict[tuple[str, str], ChildFacts]:
        return {(str(body.metadata.namespace), labels[LABEL_SCHEDULE]): child_facts(dict(body))}

    @kopf.index(GROUP, VERSION, "agenttasktriggers", id="trigger_index", registry=registry)
    async def trigger_index(body: kopf.Body, **_: Any) -> dict[tuple[str, str], TriggerFacts]:
        facts = trigger_facts(dict(body))
        return {facts.key: facts}

    def attach(kwargs: dict[str, Any]) -> None:
        runtime.view.attach(kwargs["task_index"], kwargs["job_index"],
                            kwargs["dependents_index"])
        runtime.schedule_view.attach(kwargs["schedule_index"], kwargs["schedule_children_index"])
        runtime.trigger_index.attach(kwargs["trigger_index"])

    @kopf.on.event(GROUP, VERSION, "agenttasks", registry=registry)
    async def task_event(body: kopf.Body, labels: kopf.Labels, **kwargs: Any) -> None:
        attach(kwargs)
        key = (str(body.metadata.namespace), str(body.metadata.name))
        runtime.queue.add(key)
        for dependent in runtime.view.dependents(key):
            runtime.queue.add((key[0], dependent))
        if LABEL_SCHEDULE in labels:
            runtime.schedule_queue.add((key[0], labels[LABEL_SCHEDULE]))

    @kopf.on.event(GROUP, VERSION, "agenttaskschedules", registry=registry)
    async def schedule_event(body: kopf.Body, **kwargs: Any) -> None:
        attach(kwargs)
        runtime.schedule_queue.add((str(body.metadata.namespace), str(body.metadata.name)))

    @kopf.on.event("batch", "v1", "jobs", labels={LABEL_TASK: kopf.PRESENT}, registry=registry)
    async def job_event(body: kopf.Body, labels: kopf.Labels, **kwargs: Any) -> None:
        attach(kwargs)
        key = (str(body.metadata.namespace), labels[LABEL_TASK])
        runtime.dispatcher.observe(key)
        runtime.queue.add(key)


def register_triggers(registry: kopf.OperatorRegistry, runtime: Runtime) -> None:
    @kopf.on.event(GROUP, VERSION, "agenttasktriggers", registry=registry)
    async def trigger_event(body: kopf.Body, **kwargs: Any) -> None:
        runtime.trigger_index.attach(kwargs["trigger_index"])
        runtime.trigger_queue.add((str(body.metadata.namespace), str(body.metadata.name)))


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
