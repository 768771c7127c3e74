"""Kopf registrations. Handlers are thin: indexes hold facts, events enqueue work."""

from __future__ import annotations

from typing import Any

import kopf

from agenttasks.api.meta import GROUP, LABEL_TASK, VERSION
from agenttasks.core.facts import JobFacts, TaskFacts
from agenttasks.kube.jobs import job_facts
from agenttasks.kube.tasks import task_facts

from .runtime import Runtime


def register(registry: kopf.OperatorRegistry, runtime: Runtime) -> None:
    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> Any:
        return kopf.login_via_client(**kwargs)

    @kopf.index(GROUP, VERSION, "agenttasks", registry=registry)
    def task_index(body: kopf.Body, namespace: str, name: str,
                   **_: Any) -> dict[tuple[str, str], TaskFacts]:
        return {(namespace, name): task_facts(dict(body))}

    @kopf.index("batch", "v1", "jobs", labels={LABEL_TASK: kopf.PRESENT}, registry=registry)
    def job_index(body: kopf.Body, namespace: str, labels: kopf.Labels,
                  **_: Any) -> dict[tuple[str, str], JobFacts]:
        facts = job_facts(dict(body))
        return {(namespace, labels[LABEL_TASK]): facts} if facts else {}

    @kopf.on.event(GROUP, VERSION, "agenttasks", registry=registry)
    def task_event(namespace: str, name: str, task_index: kopf.Index[Any, Any],
                   job_index: kopf.Index[Any, Any], **_: Any) -> None:
        runtime.view.attach(task_index, job_index)
        runtime.queue.add((namespace, name))

    @kopf.on.event("batch", "v1", "jobs", labels={LABEL_TASK: kopf.PRESENT}, registry=registry)
    def job_event(namespace: str, labels: kopf.Labels, task_index: kopf.Index[Any, Any],
                  job_index: kopf.Index[Any, Any], **_: Any) -> None:
        runtime.view.attach(task_index, job_index)
        runtime.queue.add((namespace, labels[LABEL_TASK]))


def configure(settings: kopf.OperatorSettings) -> None:
    """Explicit kopf settings: no bookkeeping in annotations, no framework Events."""
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(
        field="status.kopf.diffbase")
    settings.posting.enabled = False
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.peering.standalone = True
    settings.networking.request_timeout = 30
