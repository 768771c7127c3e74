"""Finished AgentTasks as a long-running cluster stores them: most Completed after one
attempt, some Failed after their retries, a few Cancelled; with history, conditions, a
result, a schedule's label on some, and managedFields from the creator and the operator.

Used by the offline probe (tests/perf/stored_memory.py) and the benchmark's stored phase,
which writes these statuses itself (as the operator would have) so that start-up reads
what a cluster of old tasks holds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from agenttasks.api.meta import LABEL_SCHEDULE

JSON = dict[str, Any]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def stored_spec(i: int) -> JSON:
    """An agent's pod template of the usual size: an image, a command, a few env vars."""
    return {
        "displayName": f"Nightly report {i % 97}",
        "retries": {"limit": 2, "delay": "30s"},
        "timeout": "20m",
        "template": {
            "metadata": {"annotations": {"sim.agenttasks.io/duration": "1s"}},
            "spec": {"containers": [{
                "name": "agent", "image": "ghcr.io/example/report-agent:1.4",
                "command": ["python", "-m", "agent"], "args": ["--region", "us", "--day", str(i)],
                "env": [{"name": "REGION", "value": "us"}, {"name": "MODE", "value": "batch"}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}},
    }


def _conditions(phase: str, reason: str, message: str, at: str) -> list[JSON]:
    def one(type_: str, status: str) -> JSON:
        return {"type": type_, "status": status, "reason": reason, "message": message,
                "lastTransitionTime": at, "observedGeneration": 1}
    if phase == "Completed":
        return [one("Complete", "True"), one("Ready", "True")]
    return [one("Failed", "True"), one("Ready", "False"), one("Stalled", "True")]


def stored_status(name: str, i: int) -> JSON:
    """Completed (8 in 10), Failed after 3 attempts (1 in 10) or Cancelled before it ran."""
    start = T0 + timedelta(minutes=i)
    kind = i % 10
    if kind == 9:
        message = "cancelled by spec.cancelled"
        return {"phase": "Cancelled", "reason": "Cancelled", "message": message,
                "completionTime": _time(start), "observedGeneration": 1,
                "conditions": _conditions("Cancelled", "Cancelled", message, _time(start))}
    attempts = 3 if kind == 8 else 1
    history = []
    for attempt in range(1, attempts + 1):
        began, ended = start + timedelta(minutes=2 * attempt), start + timedelta(
            minutes=2 * attempt + 1)
        ok = kind != 8
        history.append({"attempt": attempt, "jobName": f"{name}-{attempt}",
                        "startTime": _time(began), "completionTime": _time(ended),
                        "result": "Succeeded" if ok else "Failed",
                        "reason": "Succeeded" if ok else "JobFailed",
                        "message": "" if ok else "BackoffLimitExceeded: Job has reached the "
                        "specified backoff limit"})
    end = history[-1]["completionTime"]
    if kind == 8:
        phase, reason = "Failed", "JobFailed"
        message = f"attempt 3 of 3 failed: {history[-1]['message']}"
    else:
        phase, reason = "Completed", "Succeeded"
        message = f"attempt 1 succeeded in Job {name}-1"
    return {"phase": phase, "reason": reason, "message": message, "attempts": attempts,
            "jobName": f"{name}-{attempts}", "startTime": history[0]["startTime"],
            "completionTime": end, "observedGeneration": 1,
            "progress": {"completed": 1, "total": 1, "percent": 100,
                         "message": "wrote the report"},
            "result": {"attempt": attempts,
                       "message": f"https://reports.example.com/us/{i}.html rows=1204"},
            "history": history,
            "conditions": _conditions(phase, reason, message, end)}


def _managed_fields(created: str) -> list[JSON]:
    """What the API server keeps of who wrote which field: the creator's and ours."""
    spec = {"f:displayName": {}, "f:retries": {".": {}, "f:delay": {}, "f:limit": {}},
            "f:template": {".": {}, "f:metadata": {}, "f:spec": {}}, "f:timeout": {}}
    status = {f"f:{k}": {} for k in ("attempts", "completionTime", "jobName", "message",
                                     "observedGeneration", "phase", "reason", "startTime")}
    status.update({"f:conditions": {".": {}, 'k:{"type":"Complete"}': {
        ".": {}, "f:lastTransitionTime": {}, "f:message": {}, "f:observedGeneration": {},
        "f:reason": {}, "f:status": {}, "f:type": {}}}, "f:history": {}, "f:progress": {
            ".": {}, "f:completed": {}, "f:percent": {}, "f:total": {}}, "f:result": {
            ".": {}, "f:attempt": {}, "f:message": {}}})
    return [
        {"manager": "kubectl-client-side-apply", "operation": "Update",
         "apiVersion": "agenttasks.io/v1alpha1", "time": created, "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:annotations": {
             ".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}},
             "f:labels": {".": {}, f"f:{LABEL_SCHEDULE}": {}}}, "f:spec": spec}},
        {"manager": "agenttask-operator", "operation": "Update",
         "apiVersion": "agenttasks.io/v1alpha1", "time": created, "fieldsType": "FieldsV1",
         "fieldsV1": {"f:status": status}, "subresource": "status"},
    ]


def stored_task(i: int, namespace: str = "team-a") -> JSON:
    """One finished task's whole body, as a list or a watch event carries it."""
    name = f"stored-{i}"
    created = _time(T0 + timedelta(minutes=i))
    spec = stored_spec(i)
    applied = {"apiVersion": "agenttasks.io/v1alpha1", "kind": "AgentTask",
               "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    # Half were created by schedules (their label), half applied with kubectl (its
    # annotation, a copy of the whole manifest).
    labels = {LABEL_SCHEDULE: f"report-{i % 50}"} if i % 2 else {}
    annotations = {} if i % 2 else {"kubectl.kubernetes.io/last-applied-configuration":
                                    json.dumps(applied, separators=(",", ":")) + "\n"}
    return {
        "apiVersion": "agenttasks.io/v1alpha1", "kind": "AgentTask",
        "metadata": {
            "name": name, "namespace": namespace,
            "uid": f"{i:08x}-1b2c-4d5e-8f90-{i * 7919 % 16**12:012x}",
            "resourceVersion": str(100_000 + i), "generation": 1,
            "creationTimestamp": created, "labels": labels, "annotations": annotations,
            "managedFields": _managed_fields(created)},
        "spec": spec,
        "status": stored_status(name, i),
    }


def list_pages(count: int, page_size: int = 500, namespace: str = "team-a") -> list[bytes]:
    """The paged list the API server sends, as bytes, so a probe parses what an informer
    parses."""
    pages = []
    for first in range(0, count, page_size):
        items = [stored_task(i, namespace) for i in range(first, min(count, first + page_size))]
        more = first + page_size < count
        pages.append(json.dumps({
            "apiVersion": "agenttasks.io/v1alpha1", "kind": "AgentTaskList",
            "metadata": {"resourceVersion": "200000", **({"continue": "x"} if more else {})},
            "items": items}).encode())
    return pages
