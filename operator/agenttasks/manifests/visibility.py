"""The documents of the visibility API (api/visibility.py): discovery, PendingTask objects and
their list, the Table that ``kubectl get`` asks for, and Status errors. Plain data from the
queue view (core.queue_view); web/visibility_api.py serves them.

A PendingTask carries the same fields as an item of the operator's ``GET /api/queue``
(``entry_fields``), so that both answers say the same thing in the same words.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agenttasks.api.timefmt import format_time, human_duration
from agenttasks.api.visibility import (
    GROUP,
    GROUP_VERSION,
    KIND,
    LIST_KIND,
    RESOURCE,
    SHORT_NAMES,
    SINGULAR,
    VERBS,
    VERSION,
)
from agenttasks.core.queue_view import Entry, Estimate, QueueView

JSON = dict[str, Any]
TABLE_VERSION = "meta.k8s.io/v1"


def _eta(eta: Estimate | None) -> dict[str, str] | None:
    if eta is None:
        return None
    return {"start": format_time(eta.start), "earliest": format_time(eta.earliest),
            "latest": format_time(eta.latest)}


def entry_fields(entry: Entry) -> JSON:
    """What the queue says of one task, without its name."""
    return {"priority": entry.priority, "reason": entry.reason, "message": entry.message,
            "position": entry.position, "namespacePosition": entry.namespace_position,
            "releasesAhead": entry.ahead, "eta": _eta(entry.eta),
            "until": format_time(entry.until) if entry.until else None,
            "waitingFor": list(entry.waiting_for)}


# --- discovery --------------------------------------------------------------------------------

def api_resource_list() -> JSON:
    """``GET /apis/<group>/<version>``: what the aggregator's discovery and its availability
    check read."""
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION,
            "resources": [{"name": RESOURCE, "singularName": SINGULAR, "namespaced": True,
                           "kind": KIND, "verbs": list(VERBS),
                           "shortNames": list(SHORT_NAMES)}]}


def api_group() -> JSON:
    version = {"groupVersion": GROUP_VERSION, "version": VERSION}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": GROUP, "versions": [version],
            "preferredVersion": version}


def api_group_list() -> JSON:
    """``GET /apis``. Legacy discovery on purpose: the aggregator asks for the aggregated
    form first and reads /apis/<group>/<version> when it gets this instead."""
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [api_group()]}


# --- objects ----------------------------------------------------------------------------------

def pending_task(entry: Entry) -> JSON:
    return {"apiVersion": GROUP_VERSION, "kind": KIND,
            "metadata": {"name": entry.name, "namespace": entry.namespace},
            **entry_fields(entry)}


def queue_facts(view: QueueView) -> JSON:
    """What the queue says of itself: how many wait and run, the limits, the release rate
    its estimates come from."""
    return {
        "generatedAt": format_time(view.now),
        "queued": view.queued,
        "running": view.running.total,
        "limits": {"maxRunning": view.limits.max_running,
                   "maxRunningPerNamespace": view.limits.max_running_per_namespace},
        "throughput": {"releases": view.rate.releases,
                       "windowSeconds": round(view.rate.seconds, 3),
                       "perMinute": round(view.rate.per_second * 60, 3)},
    }


def pending_task_list(entries: list[Entry], view: QueueView) -> JSON:
    """The list, with the queue's own facts beside the items (as ``GET /api/queue`` has
    them; ``kubectl get -o json`` shows only the items)."""
    return {"apiVersion": GROUP_VERSION, "kind": LIST_KIND, "metadata": {},
            **queue_facts(view), "items": [pending_task(e) for e in entries]}


# --- Table (kubectl get) ----------------------------------------------------------------------

COLUMNS = (  # (name, type, description, priority: 0 always shown, 1 with -o wide)
    ("Name", "string", "The AgentTask's name.", 0),
    ("Position", "integer", "Place in the queue of every watched namespace; empty when the "
     "task does not wait in the queue (dependencies, startAfter, paused).", 0),
    ("Priority", "integer", "spec.priority.", 0),
    ("Reason", "string", "What the task waits for.", 0),
    ("ETA", "string", "Expected start from the slots freed recently, with the 80% interval.",
     0),
    ("Message", "string", "The reason in words.", 1),
    ("In Namespace", "integer", "Place among the queued tasks of its namespace.", 1),
    ("Waiting For", "string", "The dependencies it still waits for.", 1),
)


def eta_text(eta: Estimate | None, now: datetime) -> str:
    """``in 2m (1m-4m)``, ``now``, or ``<none>``, relative to ``now``."""
    if eta is None:
        return "<none>"
    wait = (eta.start - now).total_seconds()
    if wait <= 0 and eta.latest <= now:
        return "now"
    text = f"in {human_duration(wait)}"
    if eta.latest > eta.earliest:
        text += f" ({human_duration((eta.earliest - now).total_seconds())}-" \
            f"{human_duration((eta.latest - now).total_seconds())})"
    return text


def _cells(entry: Entry, view: QueueView) -> list[Any]:
    return [entry.name, entry.position, entry.priority, entry.reason,
            eta_text(entry.eta, view.now), entry.message, entry.namespace_position,
            ",".join(entry.waiting_for)]


def _row_object(entry: Entry, include: str) -> JSON | None:
    if include == "None":
        return None
    if include == "Object":
        return pending_task(entry)
    return {"kind": "PartialObjectMetadata", "apiVersion": TABLE_VERSION,
            "metadata": {"name": entry.name, "namespace": entry.namespace}}


def table(entries: list[Entry], view: QueueView, include_object: str = "Metadata") -> JSON:
    """A meta.k8s.io/v1 Table of ``entries``; ``include_object`` is the request's
    ``includeObject`` (None, Metadata or Object), as the API server's own tables do."""
    return {
        "kind": "Table", "apiVersion": TABLE_VERSION, "metadata": {},
        "columnDefinitions": [{"name": name, "type": kind, "format": "", "description": text,
                               "priority": priority}
                              for name, kind, text, priority in COLUMNS],
        "rows": [{"cells": _cells(e, view), "object": _row_object(e, include_object)}
                 for e in entries],
    }


def wants_table(accept: str) -> bool:
    """Whether an Accept header asks for a meta.k8s.io Table (kubectl get does)."""
    for part in accept.split(","):
        params = {p.strip() for p in part.split(";")[1:]}
        if {"as=Table", "g=meta.k8s.io", "v=v1"} <= params:
            return True
    return False


# --- errors -----------------------------------------------------------------------------------

REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
           405: "MethodNotAllowed", 406: "NotAcceptable", 503: "ServiceUnavailable"}


def status(code: int, message: str, name: str = "") -> JSON:
    """A metav1 Status, which kubectl prints as ``Error from server (Reason): message``."""
    document: JSON = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                      "status": "Failure", "message": message,
                      "reason": REASONS.get(code, "InternalError"), "code": code}
    if name:
        document["details"] = {"name": name, "group": GROUP, "kind": RESOURCE}
    return document


def not_found(name: str) -> JSON:
    return status(404, f'{RESOURCE}.{GROUP} "{name}" not found: it is not waiting', name)
