"""What a person can do to tasks and schedules: pause, resume, cancel, rerun and run-now.

One implementation for the CLI and the dashboard. Each action is a pure builder of what to
write (tested on its own) and a coroutine that writes it through the one client, under the
caller's identity (the CLI's kubeconfig) or after the dashboard has checked the user's
access. Only spec and metadata the user owns are written: status stays the operator's.
"""

from __future__ import annotations

import copy
import hashlib
import re
import secrets
import string
import time
from typing import Any, Literal, Protocol

from agenttasks.api.meta import (
    ANNOTATION_REQUESTED_BY,
    ANNOTATION_RERUN_OF,
    ANNOTATION_RUN_NOW,
    GROUP,
    LABEL_RERUN_OF,
)
from agenttasks.api.task import MAX_TASK_NAME
from agenttasks.core.naming import manual_task_name

JSON = dict[str, Any]
TaskAction = Literal["pause", "resume", "cancel"]
TASK_ACTIONS: tuple[TaskAction, ...] = ("pause", "resume", "cancel")
MAX_LABEL_VALUE = 63
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SPEC_PATCHES: dict[TaskAction, JSON] = {
    "pause": {"paused": True},
    "resume": {"paused": False},
    "cancel": {"cancelled": True},
}


class ObjectWriter(Protocol):
    """The part of the client the actions use (kube.client.Kube has it)."""

    async def get_object(self, plural: str, namespace: str, name: str) -> JSON | None: ...

    async def patch_object(self, plural: str, namespace: str, name: str,
                           patch: JSON) -> JSON: ...

    async def create_object(self, plural: str, body: JSON, dry_run: bool = False) -> JSON: ...


class NotFound(LookupError):
    """The object an action names does not exist."""


# --- what to write (pure) -------------------------------------------------------------------
def task_patch(action: TaskAction) -> JSON:
    """The merge patch of pause, resume or cancel."""
    return {"spec": copy.deepcopy(_SPEC_PATCHES[action])}


def label_value(text: str) -> str:
    """``text`` as a label value (at most 63 characters): itself when it fits, otherwise a
    prefix and a hash of the whole, so different names keep different values."""
    if len(text) <= MAX_LABEL_VALUE and _LABEL_VALUE.match(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    prefix = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:52].strip("-_.")
    return f"{prefix}-{digest}" if prefix else digest


def rerun_name(old: str, suffix: str | None = None) -> str:
    """``<old>-rerun-<5 random characters>``, cut to fit a task's name (63 characters: it
    labels the task's Jobs and pods). The name is chosen here, not by the server
    (generateName), so the caller can print or link it at once."""
    suffix = suffix or "".join(secrets.choice(string.ascii_lowercase + string.digits)
                               for _ in range(5))
    tail = f"-rerun-{suffix}"
    return old[:MAX_TASK_NAME - len(tail)].rstrip("-.") + tail


def rerun_manifest(old: JSON, name: str, requested_by: str = "") -> JSON:
    """A new AgentTask named ``name`` with the old one's spec, neither paused nor cancelled
    (a rerun is a request to run), in the same namespace. The old task's own labels are
    kept (a team label still selects it); the operator's ``agenttasks.io/*`` labels and the
    owner references are not, since they tie the old task to a schedule or trigger and a
    rerun is nobody's fire or delivery. It is labelled and annotated rerun-of=<old>."""
    meta = old.get("metadata") or {}
    old_name = str(meta["name"])
    labels = {k: v for k, v in (meta.get("labels") or {}).items()
              if not k.startswith(f"{GROUP}/")}
    labels[LABEL_RERUN_OF] = label_value(old_name)
    annotations = {ANNOTATION_RERUN_OF: old_name}
    if requested_by:
        annotations[ANNOTATION_REQUESTED_BY] = requested_by
    spec = {k: copy.deepcopy(v) for k, v in (old.get("spec") or {}).items()
            if k not in ("paused", "cancelled")}
    return {
        "apiVersion": str(old.get("apiVersion") or f"{GROUP}/v1alpha1"),
        "kind": "AgentTask",
        "metadata": {"name": name, "namespace": str(meta["namespace"]), "labels": labels,
                     "annotations": annotations},
        "spec": spec,
    }


def new_run_now_token(now: float | None = None) -> str:
    """A fresh run-now token: the time (for people reading it), and randomness so that two
    runs in one second differ."""
    return f"{int(time.time() if now is None else now)}-{secrets.token_hex(4)}"


def run_now_patch(token: str) -> JSON:
    """Sets the schedule's run-now annotation; each fresh token runs the schedule once."""
    return {"metadata": {"annotations": {ANNOTATION_RUN_NOW: token}}}


# --- writing it -----------------------------------------------------------------------------
async def change_task(client: ObjectWriter, action: TaskAction, namespace: str,
                      name: str) -> JSON:
    """Pauses, resumes or cancels one task; returns it as the server has it now."""
    return await client.patch_object("agenttasks", namespace, name, task_patch(action))


async def rerun(client: ObjectWriter, namespace: str, name: str, new_name: str | None = None,
                requested_by: str = "") -> JSON:
    """Creates a new task with the spec of ``name`` (which may be finished)."""
    old = await client.get_object("agenttasks", namespace, name)
    if old is None:
        raise NotFound(f"agenttask {name} not found in namespace {namespace}")
    body = rerun_manifest(old, new_name or rerun_name(name), requested_by)
    return await client.create_object("agenttasks", body)


async def run_now(client: ObjectWriter, namespace: str, schedule: str) -> tuple[str, str]:
    """Asks a schedule to run once now; returns the token and the name of the task the
    operator will create for it."""
    token = new_run_now_token()
    await client.patch_object("agenttaskschedules", namespace, schedule,
                              run_now_patch(token))
    return token, manual_task_name(schedule, token)
