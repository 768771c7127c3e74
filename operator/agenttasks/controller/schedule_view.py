"""The operator's view of schedules and their tasks: kopf's indexes, plus what we have just
written or created and whose watch events have not arrived yet."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from agenttasks.api.schedule import AgentTaskScheduleStatus
from agenttasks.core.schedule import ChildFacts, ScheduleFacts

from .view import Key, revision

# A created task missing from the index this long is taken as gone, not as index lag.
EXPECTATION_TTL_S = 60.0


class ScheduleView:
    def __init__(self) -> None:
        self._schedules: Mapping[Key, Iterable[ScheduleFacts]] | None = None
        self._children: Mapping[Key, Iterable[ChildFacts]] | None = None
        self._written: dict[Key, tuple[int, AgentTaskScheduleStatus]] = {}
        self._expected: dict[Key, dict[str, tuple[float, ChildFacts]]] = {}

    def attach(self, schedules: Mapping[Key, Any], children: Mapping[Key, Any]) -> None:
        self._schedules, self._children = schedules, children

    def schedule(self, key: Key) -> ScheduleFacts | None:
        if self._schedules is None:
            return None
        facts = next(iter(self._schedules.get(key, ())), None)
        if facts is None:
            self._written.pop(key, None)
            self._expected.pop(key, None)
            return None
        written = self._written.get(key)
        if written and written[0] > revision(facts.resource_version):
            return replace(facts, status=written[1], resource_version=str(written[0]))
        self._written.pop(key, None)
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
        return list(self._schedules) if self._schedules is not None else []

    def remember_status(self, key: Key, resource_version: str,
                        status: AgentTaskScheduleStatus) -> None:
        self._written[key] = (revision(resource_version), status)

    def expect_child(self, key: Key, owner_uid: str, name: str, created: datetime) -> None:
        placeholder = ChildFacts(name=name, owner_uid=owner_uid, created=created, phase=None,
                                 terminal=False)
        self._expected.setdefault(key, {})[name] = (time.monotonic(), placeholder)
