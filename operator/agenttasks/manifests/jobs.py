"""The Job of one attempt: built from the task, and read back into JobFacts."""

from __future__ import annotations

import copy
from typing import Any

from agenttasks.api.concurrency import LABEL_CONCURRENCY_KEY
from agenttasks.api.kueue import LABEL_QUEUE_NAME
from agenttasks.api.meta import (
    GROUP,
    LABEL_ATTEMPT,
    LABEL_MANAGED_BY,
    LABEL_TASK,
    MANAGER_NAME,
)
from agenttasks.api.task import AgentTaskSpec
from agenttasks.api.timefmt import parse_time
from agenttasks.core.attempts import attempt_deadline
from agenttasks.core.batch import ItemPlan
from agenttasks.core.concurrency import key_label
from agenttasks.core.facts import ContainerEnd, FailedPod, JobFacts, TaskFacts
from agenttasks.manifests.annotation_files import annotation_file
from agenttasks.manifests.owners import controller_reference, controller_uid
from agenttasks.manifests.pod_failure_policy import pod_failure_policy
from agenttasks.manifests.progress_token import ProgressWiring, add_progress
from agenttasks.progress import INPUTS_ENV

ITEMS_ENV = "AGENTTASK_ITEMS"
"""A batch attempt's item numbers (compact ranges); the pod at completion index i runs the
i-th of them (agenttasks.progress.item())."""
# The results of the tasks it depends on (core.pipelines), in the Job's pod template: its
# own directory, as a trigger's payload is mounted at /var/run/agenttasks (a mount inside a
# read-only downward API volume could not be made).
ANNOTATION_INPUTS = f"{GROUP}/inputs"
INPUTS_VOLUME = "agenttask-inputs"
INPUTS_DIR = "/var/run/agenttask-inputs"
INPUTS_FILE = "inputs.json"


def owner_reference(task: TaskFacts) -> dict[str, Any]:
    return controller_reference("AgentTask", task.name, task.uid)


def add_to_containers(pod_spec: dict[str, Any], env: list[dict[str, Any]],
                      mounts: list[dict[str, Any]] | None = None) -> None:
    """Adds ``env`` (replacing variables of the same names) and ``mounts`` to every container
    and init container of ``pod_spec``."""
    names = {e["name"] for e in env}
    for group in ("initContainers", "containers"):
        for container in pod_spec.get(group) or []:
            container["env"] = [e for e in container.get("env") or []
                                if e.get("name") not in names] + list(env)
            if mounts:
                container.setdefault("volumeMounts", []).extend(mounts)


def build_job(task: TaskFacts, spec: AgentTaskSpec, attempt: int, name: str,
              progress: ProgressWiring | None = None, items: ItemPlan | None = None,
              memory: dict[str, dict[str, str]] | None = None,
              inputs: str | None = None) -> dict[str, Any]:
    """The Job for one attempt. Retries of the attempt belong to the operator, hence
    backoffLimit 0; a batch's items have their own (backoffLimitPerIndex). With ``progress``,
    every container gets the progress URL and its token's file; ``items`` are a batch
    attempt's, ``memory`` raised resources per container; ``inputs`` the document of its
    dependencies' results (core.pipelines), the file AGENTTASK_INPUTS names."""
    labels = {LABEL_TASK: task.name, LABEL_ATTEMPT: str(attempt), LABEL_MANAGED_BY: MANAGER_NAME}
    template = copy.deepcopy(spec.template)
    template.setdefault("metadata", {})
    template["metadata"]["labels"] = {**(template["metadata"].get("labels") or {}), **labels}
    if spec.concurrency is not None:  # on the Job only: what the slot ledger counts
        labels = {**labels, LABEL_CONCURRENCY_KEY: key_label(spec.concurrency.key)}
    template.setdefault("spec", {})
    template["spec"].setdefault("restartPolicy", "Never")
    if progress is not None:
        add_progress(template["spec"], task, progress)
    _raise_memory(template["spec"], memory or {})
    if inputs is not None:
        annotation_file(template, ANNOTATION_INPUTS, inputs, volume=INPUTS_VOLUME,
                        directory=INPUTS_DIR, file=INPUTS_FILE, env=INPUTS_ENV)
    job_spec: dict[str, Any] = {
        "backoffLimit": 0,
        "parallelism": spec.parallelism,
        "completions": spec.completions,
        "template": template,
    }
    if items is not None:
        _batch(job_spec, template["spec"], items)
    if template["spec"].get("restartPolicy") == "Never":  # the Job allows it only then
        job_spec["podFailurePolicy"] = pod_failure_policy(spec.retries.rules)
    deadline = attempt_deadline(spec.timeout)
    if deadline is not None:
        job_spec["activeDeadlineSeconds"] = int(deadline.total_seconds())
    job_labels = dict(labels)
    if spec.kueue is not None:
        # Kueue admits it: created suspended, and Kueue unsuspends it. The label is on the
        # Job only: on the pods it would hand them to Kueue's pod integration as well.
        job_labels[LABEL_QUEUE_NAME] = spec.kueue.queue_name
        job_spec["suspend"] = True
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": task.namespace,
            "labels": job_labels,
            "ownerReferences": [owner_reference(task)],
        },
        "spec": job_spec,
    }


def _batch(job_spec: dict[str, Any], pod_spec: dict[str, Any], items: ItemPlan) -> None:
    """An Indexed Job over the attempt's items. Each item has its own retries, so one
    failing item leaves the others running (backoffLimit is then left to its default)."""
    count = len(items.items)
    job_spec.update(completionMode="Indexed", completions=count,
                    parallelism=min(job_spec["parallelism"], count),
                    backoffLimitPerIndex=items.item_retries)
    del job_spec["backoffLimit"]
    if items.max_failed is not None:
        job_spec["maxFailedIndexes"] = items.max_failed
    if items.succeeded_needed is not None:
        job_spec["successPolicy"] = {"rules": [{"succeededCount": items.succeeded_needed}]}
    add_to_containers(pod_spec, [{"name": ITEMS_ENV, "value": items.ranges}])


def _raise_memory(pod_spec: dict[str, Any], memory: dict[str, dict[str, str]]) -> None:
    for container in pod_spec.get("containers") or []:
        raised = memory.get(container.get("name", ""))
        if not raised:
            continue
        resources = container.setdefault("resources", {})
        for kind, value in raised.items():
            resources.setdefault(kind, {})["memory"] = value


def job_facts(body: dict[str, Any]) -> JobFacts | None:
    """Facts of a Job we created; None for a Job without a valid attempt label."""
    meta = body.get("metadata", {})
    labels = meta.get("labels") or {}
    try:
        attempt = int(labels.get(LABEL_ATTEMPT, ""))
    except ValueError:
        return None
    status = body.get("status") or {}
    outcome, reason, message, finished = None, "", "", None
    for condition in status.get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            outcome = condition["type"]
            reason = condition.get("reason") or ""
            message = condition.get("message") or ""
            finished = parse_time(condition.get("lastTransitionTime"))
    if outcome == "Complete" and status.get("completionTime"):
        finished = parse_time(status["completionTime"])
    created = parse_time(meta.get("creationTimestamp"))
    assert created is not None
    return JobFacts(
        name=meta["name"],
        attempt=attempt,
        created=created,
        owner_uid=controller_uid(body),
        uid=meta.get("uid"),
        suspended=bool((body.get("spec") or {}).get("suspend")),
        active=int(status.get("active") or 0),
        terminating=int(status.get("terminating") or 0),
        succeeded=int(status.get("succeeded") or 0),
        ready=int(status.get("ready") or 0),
        finishing=_finishing(status),
        outcome=outcome,
        outcome_reason=reason,
        outcome_message=message,
        finished_at=finished,
        started_at=parse_time(status.get("startTime")),
        deleting=bool(meta.get("deletionTimestamp")),
        completions=int((body.get("spec") or {}).get("completions") or 1),
        completed_indexes=str(status.get("completedIndexes") or ""),
        failed_indexes=str(status.get("failedIndexes") or ""),
        queue_name=labels.get(LABEL_QUEUE_NAME) or None,
        concurrency_key=str(labels.get(LABEL_CONCURRENCY_KEY) or ""),
        **_template_facts(body),
    )


def _template_facts(body: dict[str, Any]) -> dict[str, Any]:
    """The attempt's items and memory limits, from the Job's pod template."""
    pod_spec = (((body.get("spec") or {}).get("template") or {}).get("spec")) or {}
    items, memory = None, []
    for container in pod_spec.get("containers") or []:
        for env in container.get("env") or []:
            if env.get("name") == ITEMS_ENV and isinstance(env.get("value"), str):
                items = env["value"]
        limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
        if isinstance(limit, str) and isinstance(container.get("name"), str):
            memory.append((container["name"], limit))
    return {"items": items, "memory": tuple(memory)}


def failed_pod(pod: dict[str, Any]) -> FailedPod | None:
    """How a failed pod ended (its containers' exit codes and reasons, and whether it was
    disrupted); None for a pod that has not failed."""
    status = pod.get("status") or {}
    if status.get("phase") != "Failed":
        return None
    ends = []
    for container in status.get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated") or {}
        if terminated and isinstance(terminated.get("exitCode"), int):
            ends.append(ContainerEnd(str(container.get("name", "")), terminated["exitCode"],
                                     str(terminated.get("reason") or "")))
    disrupted = any(c.get("type") == "DisruptionTarget" and c.get("status") == "True"
                    for c in status.get("conditions") or [])
    return FailedPod(tuple(ends), disrupted)


def _finishing(status: dict[str, Any]) -> bool:
    uncounted = status.get("uncountedTerminatedPods") or {}
    if uncounted.get("succeeded") or uncounted.get("failed"):
        return True
    return any(c.get("type") in ("SuccessCriteriaMet", "FailureTarget")
               and c.get("status") == "True" for c in status.get("conditions") or [])


def termination_message(pod: dict[str, Any]) -> str:
    """The first non-empty termination message among the pod's containers."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        message = ((status.get("state") or {}).get("terminated") or {}).get("message")
        if message:
            return str(message)
    return ""
