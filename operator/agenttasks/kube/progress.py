"""Per-attempt progress tokens: a Secret owned by the task, rotated for every attempt, and
the environment that gives an attempt's pod its URL and token."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from agenttasks.api.meta import GROUP, LABEL_MANAGED_BY, LABEL_TASK, MANAGER_NAME
from agenttasks.core.facts import TaskFacts
from agenttasks.kube.client import ApiError, Kube
from agenttasks.kube.jobs import owner_reference
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


class ProgressTokens:
    """The current attempt's token per task: written by the reconciler before the attempt's
    Job exists, read by the progress endpoint. Memory first; the Secret after a restart."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._known: dict[tuple[str, str], tuple[int, str]] = {}

    async def ensure(self, task: TaskFacts, attempt: int) -> None:
        """A token for ``attempt``: kept if the Secret already has it (a restart between
        the Secret and the Job), else a new one, so a stale attempt's token stops working.
        Create first: the first attempt, by far the most common, then costs one round trip."""
        token = new_token()
        secret = build_progress_secret(task, attempt, token)
        try:
            await self.kube.create_secret(secret)
        except ApiError as exc:
            if not exc.conflict:
                raise
            name = progress_secret_name(task.name)
            body = await self.kube.read_secret(task.namespace, name)
            if body is not None and secret_attempt(body) == attempt:
                token = base64.b64decode((body.get("data") or {}).get(TOKEN_KEY, "")).decode()
            else:
                await self.kube.patch_secret(task.namespace, name, {
                    "metadata": {"annotations": secret["metadata"]["annotations"]},
                    "stringData": secret["stringData"]})
        self._known[task.key] = (attempt, token)

    async def current(self, namespace: str, task: str) -> tuple[int, str] | None:
        known = self._known.get((namespace, task))
        if known is not None:
            return known
        body = await self.kube.read_secret(namespace, progress_secret_name(task))
        attempt = secret_attempt(body) if body else None
        if body is None or attempt is None:
            return None
        token = base64.b64decode((body.get("data") or {}).get(TOKEN_KEY, "")).decode()
        self._known[(namespace, task)] = (attempt, token)
        return attempt, token

    def forget(self, namespace: str, task: str) -> None:
        self._known.pop((namespace, task), None)
