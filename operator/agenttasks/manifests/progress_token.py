"""How an attempt's pod gets its progress URL and token, and how a pod is read back.

The token is a projected ServiceAccount token with our audience, which the kubelet writes
into a volume of every attempt's pod and refreshes before it expires; the operator writes
nothing per task for it. The operator checks it with a TokenReview (kube/progress_auth.py),
which also says which pod it was issued to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agenttasks.core.facts import TaskFacts
from agenttasks.core.progress_auth import Controller, PodFacts
from agenttasks.progress import TOKEN_FILE_ENV, URL_ENV

DEFAULT_AUDIENCE = "agenttasks.io/progress"
# Prefixed, so that they do not meet a user's own; a template that uses them anyway has
# that volume and its mounts replaced by ours, as the env of the same names is.
VOLUME = "agenttasks-progress-token"
MOUNT_DIR = "/var/run/secrets/agenttasks.io/progress"
TOKEN_PATH = "token"
TOKEN_FILE = f"{MOUNT_DIR}/{TOKEN_PATH}"
# An hour: the kubelet requests a new token at 80% of it, so a file read is always fresh.
TOKEN_SECONDS = 3600


@dataclass(frozen=True)
class ProgressWiring:
    """Where pods reach the operator, and the audience of their tokens (the operator's
    --progress-url and --progress-audience)."""

    base_url: str
    audience: str = DEFAULT_AUDIENCE


def progress_url(task: TaskFacts, base_url: str) -> str:
    return f"{base_url.rstrip('/')}/progress/{task.namespace}/{task.name}"


def progress_volume(audience: str) -> dict[str, Any]:
    return {"name": VOLUME, "projected": {"sources": [{"serviceAccountToken": {
        "audience": audience, "expirationSeconds": TOKEN_SECONDS, "path": TOKEN_PATH}}]}}


def progress_env(task: TaskFacts, base_url: str) -> list[dict[str, Any]]:
    return [{"name": URL_ENV, "value": progress_url(task, base_url)},
            {"name": TOKEN_FILE_ENV, "value": TOKEN_FILE}]


def add_progress(pod_spec: dict[str, Any], task: TaskFacts, wiring: ProgressWiring) -> None:
    """Gives every container and init container of ``pod_spec`` the URL, the token file's
    path and the token's volume, mounted read-only. It does not depend on
    automountServiceAccountToken, which only governs the API server's own token volume."""
    pod_spec["volumes"] = [v for v in pod_spec.get("volumes") or []
                           if v.get("name") != VOLUME] + [progress_volume(wiring.audience)]
    env = progress_env(task, wiring.base_url)
    names = {e["name"] for e in env}
    mount = {"name": VOLUME, "mountPath": MOUNT_DIR, "readOnly": True}
    for group in ("initContainers", "containers"):
        for container in pod_spec.get(group) or []:
            container["env"] = [e for e in container.get("env") or []
                                if e.get("name") not in names] + env
            container["volumeMounts"] = [
                m for m in container.get("volumeMounts") or []
                if m.get("name") != VOLUME and
                str(m.get("mountPath", "")).rstrip("/") != MOUNT_DIR] + [dict(mount)]


def pod_facts(body: dict[str, Any]) -> PodFacts:
    meta = body.get("metadata") or {}
    controller = None
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            controller = Controller(str(ref.get("apiVersion", "")), str(ref.get("kind", "")),
                                    str(ref.get("name", "")), str(ref.get("uid", "")))
            break
    return PodFacts(namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")),
                    uid=str(meta.get("uid", "")), controller=controller,
                    deleting=bool(meta.get("deletionTimestamp")))
