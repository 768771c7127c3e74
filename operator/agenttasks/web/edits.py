"""What the dashboard's actions write: merge patches, the rerun's new task, run-now tokens."""

from __future__ import annotations

import copy
import hashlib
import re
import secrets
from typing import Any

from agenttasks.api.meta import ANNOTATION_RUN_NOW, API_VERSION, GROUP

LABEL_RERUN_OF = f"{GROUP}/rerun-of"
ANNOTATION_RERUN_OF = f"{GROUP}/rerun-of"
ANNOTATION_REQUESTED_BY = f"{GROUP}/requested-by"
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
RERUN_PREFIX_CHARS = 40  # generateName adds 5 characters; names stay short and readable

TASK_PATCHES: dict[str, dict[str, Any]] = {
    "pause": {"spec": {"paused": True}},
    "resume": {"spec": {"paused": False}},
    "cancel": {"spec": {"cancelled": True}},
}


def task_patch(action: str) -> dict[str, Any]:
    """The merge patch of pause, resume or cancel."""
    return copy.deepcopy(TASK_PATCHES[action])


def label_value(text: str) -> str:
    """``text`` as a label value (at most 63 characters): itself when it fits, otherwise a
    prefix and a hash of the whole, so different names keep different values."""
    if len(text) <= 63 and _LABEL_VALUE.match(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    prefix = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:52].strip("-_.")
    return f"{prefix}-{digest}" if prefix else digest


def rerun_manifest(old: dict[str, Any], requested_by: str = "") -> dict[str, Any]:
    """A new AgentTask with the old one's spec (neither paused nor cancelled), in the same
    namespace, named by the server from the old name, labelled rerun-of=<old>. Nothing else
    is copied: the old task's labels and owners tie it to a schedule or trigger, and a rerun
    is nobody's fire or delivery."""
    meta = old.get("metadata") or {}
    name = str(meta["name"])
    spec = copy.deepcopy(old.get("spec") or {})
    spec.pop("paused", None)
    spec.pop("cancelled", None)
    annotations = {ANNOTATION_RERUN_OF: name}
    if requested_by:
        annotations[ANNOTATION_REQUESTED_BY] = requested_by
    prefix = name[:RERUN_PREFIX_CHARS].rstrip("-.")
    return {
        "apiVersion": API_VERSION,
        "kind": "AgentTask",
        "metadata": {"generateName": f"{prefix}-rerun-", "namespace": str(meta["namespace"]),
                     "labels": {LABEL_RERUN_OF: label_value(name)},
                     "annotations": annotations},
        "spec": spec,
    }


def new_run_now_token() -> str:
    return secrets.token_hex(8)


def run_now_patch(token: str) -> dict[str, Any]:
    """Sets the schedule's run-now annotation; each fresh token runs the schedule once."""
    return {"metadata": {"annotations": {ANNOTATION_RUN_NOW: token}}}
