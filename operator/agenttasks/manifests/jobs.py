"""The Job of one attempt: built from the task, and read back into JobFacts."""

from __future__ import annotations

import copy
from typing import Any

from agenttasks.api.meta import (
    LABEL_ATTEMPT,
    LABEL_MANAGED_BY,
    LABEL_TASK,
    MANAGER_NAME,
)
from agenttasks.api.task import AgentTaskSpec
from agenttasks.api.timefmt import parse_time
from agenttasks.core.facts import JobFacts, TaskFacts
from agenttasks.core.lifecycle import attempt_deadline
from agenttasks.manifests.owners import controller_reference, controller_uid
from agenttasks.manifests.progress_token import ProgressWiring, add_progress


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
              progress: ProgressWiring | None = None) -> dict[str, Any]:
    """The Job for one attempt. Retries belong to the operator, hence backoffLimit 0.
    With ``progress``, every container gets the progress URL and its token's file."""
    labels = {LABEL_TASK: task.name, LABEL_ATTEMPT: str(attempt), LABEL_MANAGED_BY: MANAGER_NAME}
    template = copy.deepcopy(spec.template)
    template.setdefault("metadata", {})
    template["metadata"]["labels"] = {**(template["metadata"].get("labels") or {}), **labels}
    template.setdefault("spec", {})
    template["spec"].setdefault("restartPolicy", "Never")
    if progress is not None:
        add_progress(template["spec"], task, progress)
    job_spec: dict[str, Any] = {
        "backoffLimit": 0,
        "parallelism": spec.parallelism,
        "completions": spec.completions,
        "template": template,
    }
    if spec.completions > 1:
        job_spec["completionMode"] = "Indexed"
    deadline = attempt_deadline(spec.timeout)
    if deadline is not None:
        job_spec["activeDeadlineSeconds"] = int(deadline.total_seconds())
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": task.namespace,
            "labels": labels,
            "ownerReferences": [owner_reference(task)],
        },
        "spec": job_spec,
    }


def job_facts(body: dict[str, Any]) -> JobFacts | None:
    """Facts of a Job we created; None for a Job without a valid attempt label."""
    meta = body.get("metadata", {})
    try:
        attempt = int((meta.get("labels") or {}).get(LABEL_ATTEMPT, ""))
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
        outcome=outcome,
        outcome_reason=reason,
        outcome_message=message,
        finished_at=finished,
        started_at=parse_time(status.get("startTime")),
        deleting=bool(meta.get("deletionTimestamp")),
    )


def termination_message(pod: dict[str, Any]) -> str:
    """The first non-empty termination message among the pod's containers."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        message = ((status.get("state") or {}).get("terminated") or {}).get("message")
        if message:
            return str(message)
    return ""
