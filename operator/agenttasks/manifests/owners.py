"""Owner references: every object the operator creates is owned by the object it serves,
as its controller, so the garbage collector deletes it with its owner and nothing else
claims it."""

from __future__ import annotations

from typing import Any

from agenttasks.api.meta import API_VERSION


def controller_reference(kind: str, name: str, uid: str) -> dict[str, Any]:
    """The ownerReference of one of our kinds (AgentTask, AgentTaskSchedule, ...)."""
    return {"apiVersion": API_VERSION, "kind": kind, "name": name, "uid": uid,
            "controller": True, "blockOwnerDeletion": True}


def controller_uid(body: dict[str, Any]) -> str | None:
    """The uid of the object's controller, or None when nothing controls it."""
    for ref in body.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None
