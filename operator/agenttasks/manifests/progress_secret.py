"""The progress token's Secret (owned by the task, rotated for every attempt) and the
environment that gives an attempt's pod its URL and token.

The Secret is found by its name, which anyone allowed to create Secrets in the namespace
can take first; so it is trusted only when the task controls it (its ownerReferences)."""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any

from agenttasks.api.meta import API_VERSION, GROUP, LABEL_MANAGED_BY, LABEL_TASK, MANAGER_NAME
from agenttasks.core.actions import Emit
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


def controlling_task_uid(body: dict[str, Any], task: str) -> str | None:
    """The uid of the AgentTask named ``task`` that controls the Secret; None when nothing
    controls it, or something else does."""
    for ref in body.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            ours = (ref.get("apiVersion"), ref.get("kind"), ref.get("name")) == (
                API_VERSION, "AgentTask", task)
            return str(ref["uid"]) if ours and ref.get("uid") else None
    return None


def secret_token(body: dict[str, Any]) -> tuple[int, str] | None:
    """The attempt and token the Secret holds; None when either is missing or garbled."""
    attempt = secret_attempt(body)
    encoded = (body.get("data") or {}).get(TOKEN_KEY)
    if attempt is None or not isinstance(encoded, str):
        return None
    try:
        token = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (attempt, token) if token else None


def foreign_secret_event(task: TaskFacts) -> Emit:
    """Why an attempt runs without progress: the Secret's name is taken by another owner."""
    return Emit("Warning", "ProgressUnavailable",
                f"Secret {progress_secret_name(task.name)} exists and is not controlled by "
                "this task, so it is left unchanged and unused: this attempt runs without "
                "AGENTTASK_PROGRESS_URL and AGENTTASK_PROGRESS_TOKEN. Delete or rename that "
                "Secret to get progress from the next attempt.")


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
