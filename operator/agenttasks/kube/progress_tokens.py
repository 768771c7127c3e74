"""The current attempt's progress token per task, kept in a Secret the task owns."""

from __future__ import annotations

import base64

from agenttasks.core.facts import TaskFacts
from agenttasks.kube.client import ApiError, Kube
from agenttasks.manifests.progress_secret import (
    TOKEN_KEY,
    build_progress_secret,
    new_token,
    progress_secret_name,
    secret_attempt,
)


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
