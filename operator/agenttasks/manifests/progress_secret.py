"""The progress token's Secret (owned by the task, rotated for every attempt) and the
environment that gives an attempt's pod its URL and token."""

from __future__ import annotations

import secrets
from typing import Any

from agenttasks.api.meta import GROUP, LABEL_MANAGED_BY, LABEL_TASK, MANAGER_NAME
from agenttasks.core.facts import TaskFacts
from agenttasks.manifests.jobs import owner_reference
from agenttasks.progress import TOKEN_ENV, URL_ENV

ANNOTATION_ATTEMPT = f"{GROUP}/attempt"
TOKEN_KEY = "token"


def progress_secret_name(task: str) -> str:
    return f"{task}-progress"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def build_progress_secret(task: TaskFacts, attempt: int, token: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": progress_secret_name(task.name),
            "namespace": task.namespace,
            "labels": {LABEL_TASK: task.name, LABEL_MANAGED_BY: MANAGER_NAME},
            "annotations": {ANNOTATION_ATTEMPT: str(attempt)},
            "ownerReferences": [owner_reference(task)],
        },
        "type": "Opaque",
        "stringData": {TOKEN_KEY: token},
    }


def secret_attempt(body: dict[str, Any]) -> int | None:
    try:
        return int((body.get("metadata", {}).get("annotations") or {})[ANNOTATION_ATTEMPT])
    except (KeyError, ValueError):
        return None


def progress_env(task: TaskFacts, base_url: str) -> list[dict[str, Any]]:
    """AGENTTASK_PROGRESS_URL and the attempt's token, read from the Secret at pod start."""
    return [
        {"name": URL_ENV, "value": f"{base_url.rstrip('/')}/progress/{task.namespace}/"
                                   f"{task.name}"},
        {"name": TOKEN_ENV, "valueFrom": {"secretKeyRef": {
            "name": progress_secret_name(task.name), "key": TOKEN_KEY}}},
    ]
