"""The operator's in-memory view of tasks, their Jobs and their dependents: the informers'
indexes, plus the statuses we have just written and whose watch events have not arrived."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from agenttasks.api.meta import Key
from agenttasks.api.task import AgentTaskStatus
from agenttasks.core.facts import JobFacts, TaskFacts

from .overlay import OverlaidIndex

__all__ = ["TaskView"]


class TaskView:
    def __init__(self) -> None:
        self._tasks: OverlaidIndex[TaskFacts] = OverlaidIndex()
        self._jobs: Mapping[Key, Iterable[JobFacts]] | None = None
        self._dependents: Mapping[Key, Iterable[str]] | None = None
        self.complete = False
        """Whether the indexes hold every object of the initial listings."""

    def attach(self, tasks: Mapping[Key, Any], jobs: Mapping[Key, Any],
               dependents: Mapping[Key, Any]) -> None:
        self._tasks.attach(tasks)
        self._jobs, self._dependents = jobs, dependents

    def task(self, key: Key) -> TaskFacts | None:
        return self._tasks.get(key)

    def jobs(self, key: Key) -> list[JobFacts]:
        if self._jobs is None:
            return []
        return list(self._jobs.get(key, ()))

    def task_keys(self) -> list[Key]:
        return self._tasks.keys()

    def job_keys(self) -> list[Key]:
        return list(self._jobs) if self._jobs is not None else []

    def dependents(self, key: Key) -> list[str]:
        """Names of the tasks in key's namespace whose dependsOn names key."""
        if self._dependents is None:
            return []
        return list(self._dependents.get(key, ()))

    def remember_status(self, key: Key, resource_version: str, status: AgentTaskStatus) -> None:
        self._tasks.remember_status(key, resource_version, status)

    def is_own_write(self, key: Key, resource_version: str) -> bool:
        """Whether a watch event shows exactly the object our last status write returned."""
        return self._tasks.is_own_write(key, resource_version)
