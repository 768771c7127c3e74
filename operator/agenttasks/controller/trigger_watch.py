"""The split receiver's one watch: AgentTaskTriggers into an index, and nothing reconciled.

The receiver needs a trigger's spec to answer a delivery, and nothing else the operator
watches (no tasks, no Jobs, no schedules), so it lists and watches triggers only; its
ServiceAccount may do no more. The operator's own watches (watches.py) use the same
resource and the same contribution, so both index a trigger alike.
"""

from __future__ import annotations

import asyncio

from agenttasks.api.meta import GROUP, VERSION, Key
from agenttasks.core.triggers import TriggerFacts
from agenttasks.kube.client import Kube
from agenttasks.kube.watching import Informer, Resource
from agenttasks.manifests.triggers import trigger_facts

from .index import Body, Index
from .overlay import OverlaidIndex
from .settings import WatchedNamespaces

TRIGGERS = Resource(GROUP, VERSION, "agenttasktriggers")


def trigger_contribution(body: Body) -> dict[Key, TriggerFacts]:
    facts = trigger_facts(body)
    return {facts.key: facts}


class TriggerWatch:
    """``view.get(key)``: a watched trigger's facts, or None. Ready once every informer has
    listed: before that, a known trigger would be answered 404."""

    def __init__(self, kube: Kube, scope: WatchedNamespaces) -> None:
        self.scope = scope
        self.index: Index[TriggerFacts] = Index(trigger_contribution)
        self.view: OverlaidIndex[TriggerFacts] = OverlaidIndex()  # nothing is overlaid
        self.view.attach(self.index)
        self.informers = [Informer(kube.connection, TRIGGERS, namespace, self._on_event)
                          for namespace in scope.informer_scopes]

    def _on_event(self, kind: str, body: Body) -> None:
        if self.scope.watches(str(body["metadata"].get("namespace", ""))):
            self.index.apply(kind, body)

    def ready(self) -> bool:
        return all(informer.synced.is_set() for informer in self.informers)

    async def run(self) -> None:
        await asyncio.gather(*(informer.run() for informer in self.informers))
