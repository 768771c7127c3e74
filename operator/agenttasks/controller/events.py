"""Events on our objects, sent in the background: an Event is best effort, so it never
delays or fails a reconcile, and it goes after the writes that matter."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from agenttasks.api.meta import API_VERSION
from agenttasks.core.actions import Emit
from agenttasks.kube.client import ApiError, Kube

log = logging.getLogger("agenttasks.events")
MAX_PENDING = 10_000  # Beyond this, new Events are dropped (and logged) rather than queued.
SENDERS = 4


@dataclass(frozen=True)
class _Pending:
    kind: str
    namespace: str
    name: str
    uid: str
    event: Emit


class EventRecorder:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(MAX_PENDING)

    def record(self, kind: str, namespace: str, name: str, uid: str, event: Emit) -> None:
        try:
            self._queue.put_nowait(_Pending(kind, namespace, name, uid, event))
        except asyncio.QueueFull:
            log.warning("dropped event %s on %s %s/%s: too many pending", event.reason, kind,
                        namespace, name)

    async def run(self) -> None:
        await asyncio.gather(*(self._send_forever() for _ in range(SENDERS)))

    async def _send_forever(self) -> None:
        while True:
            pending = await self._queue.get()
            involved = {"apiVersion": API_VERSION, "kind": pending.kind,
                        "metadata": {"name": pending.name, "namespace": pending.namespace,
                                     "uid": pending.uid}}
            event = pending.event
            try:
                await self.kube.emit(involved, event.type, event.reason, event.message)
            except ApiError as exc:
                log.warning("could not record event %s on %s %s/%s: %s", event.reason,
                            pending.kind, pending.namespace, pending.name, exc)
            except Exception:  # A broken connection must not stop the sender.
                log.exception("could not record event %s", event.reason)
