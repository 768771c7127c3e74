"""The start check's facts (core.start_check) read from an attempt's pods and its Job's
FailedCreate Events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agenttasks.api.timefmt import parse_time
from agenttasks.core.facts import CreateRefusal, PodStart, StartFacts
from agenttasks.manifests.owners import controller_uid

JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
"""The label the Job controller puts on the pods it creates (its selector)."""
MAX_WORDS = 1024  # a quoted message is cut here: a scheduler's message can list many nodes


def start_facts(job_uid: str, pods: Iterable[dict[str, Any]],
                events: Iterable[dict[str, Any]]) -> StartFacts:
    """Only pods the Job controls count (its uid in their controller ownerReference): a
    label is anyone's to set on a pod of their own. Only FailedCreate Events of this Job's
    uid count."""
    return StartFacts(
        pods=tuple(pod_start(p) for p in pods if controller_uid(p) == job_uid),
        refusals=tuple(create_refusal(e) for e in events
                       if (e.get("involvedObject") or {}).get("uid") == job_uid
                       and e.get("reason") == "FailedCreate"))


def pod_start(pod: dict[str, Any]) -> PodStart:
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    containers = [*(status.get("initContainerStatuses") or []),
                  *(status.get("containerStatuses") or [])]
    ran = status.get("phase") == "Succeeded" or any(_ran(c) for c in containers)
    unscheduled = None
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            unscheduled = (str(condition.get("reason") or ""),
                           _cut(condition.get("message")))
    waiting = tuple(
        (str(c.get("name") or ""), str(w.get("reason")), _cut(w.get("message")))
        for c in containers
        if (w := (c.get("state") or {}).get("waiting")) is not None and w.get("reason"))
    return PodStart(name=str(meta.get("name") or ""),
                    created=parse_time(meta.get("creationTimestamp")),
                    ran=ran, unscheduled=unscheduled, waiting=waiting)


def _ran(container: dict[str, Any]) -> bool:
    state, last = container.get("state") or {}, container.get("lastState") or {}
    return "running" in state or "terminated" in state or "terminated" in last


def create_refusal(event: dict[str, Any]) -> CreateRefusal:
    """The Event's message and when it was last seen (an Event series counts repeats)."""
    seen = (event.get("series") or {}).get("lastObservedTime") or \
        event.get("lastTimestamp") or event.get("eventTime") or \
        (event.get("metadata") or {}).get("creationTimestamp")
    return CreateRefusal(message=_cut(event.get("message")), last_seen=parse_time(seen))


def _cut(text: Any) -> str:
    words = str(text or "").strip()
    return words if len(words) <= MAX_WORDS else words[:MAX_WORDS - 1] + "…"
