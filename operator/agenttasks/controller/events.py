"""Events on our objects: best effort, so a failed Event never fails a reconcile."""

from __future__ import annotations

import logging

from agenttasks.api.meta import API_VERSION
from agenttasks.core.actions import Emit
from agenttasks.kube.client import ApiError, Kube

log = logging.getLogger("agenttasks.events")


async def record(kube: Kube, kind: str, namespace: str, name: str, uid: str,
                 event: Emit) -> None:
    involved = {"apiVersion": API_VERSION, "kind": kind,
                "metadata": {"name": name, "namespace": namespace, "uid": uid}}
    try:
        await kube.emit(involved, event.type, event.reason, event.message)
    except ApiError as exc:
        log.warning("could not record event %s on %s %s/%s: %s", event.reason, kind,
                    namespace, name, exc)
