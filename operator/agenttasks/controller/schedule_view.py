"""The operator's view of schedules and their tasks: the informers' indexes, plus what we have just
written or created and whose watch events have not arrived yet."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from agenttasks.api.meta import Key
from agenttasks.api.schedule import AgentTaskScheduleStatus
from agenttasks.core.schedule import ChildFacts, ScheduleFacts

from .overlay import OverlaidIndex

# A created task missing from the index this long is taken as gone, not as index lag.
EXPECTATION_TTL_S = 60.0


class ScheduleView:
    def __init__(self) -> None:
        self._schedules: OverlaidIndex[ScheduleFacts] = OverlaidIndex()
        self._children: Mapping[Key, Iterable[ChildFacts]] | None = None
        self._expected: dict[Key, dict[str, tuple[float, ChildFacts]]] = {}

    def attach(self, schedules: Mapping[Key, Any], children: Mapping[Key, Any]) -> None:
        self._schedules.attach(schedules)
        self._children = children

    def schedule(self, key: Key) -> ScheduleFacts | None:
        facts = self._schedules.get(key)
        if facts is None:
            self._expected.pop(key, None)
        return facts

    def children(self, key: Key) -> list[ChildFacts]:
        seen = list(self._children.get(key, ())) if self._children is not None else []
        expected = self._expected.get(key)
        if expected:
            names = {c.name for c in seen}
            now = time.monotonic()
            for name, (since, placeholder) in list(expected.items()):
                if name in names or now - since > EXPECTATION_TTL_S:
                    del expected[name]
                else:
                    seen.append(placeholder)
        return seen

    def keys(self) -> list[Key]:
        return self._schedules.keys()

    def remember_status(self, key: Key, resource_version: str,
                        status: AgentTaskScheduleStatus) -> None:
        self._schedules.remember_status(key, resource_version, status)

    def expect_child(self, key: Key, owner_uid: str, name: str, created: datetime) -> None:
        placeholder = ChildFacts(name=name, owner_uid=owner_uid, created=created, phase=None,
                                 terminal=False)
        self._expected.setdefault(key, {})[name] = (time.monotonic(), placeholder)
