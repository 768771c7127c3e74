"""The operator's in-memory view of the cluster: kopf's indexes, plus the statuses we have
just written and whose watch events have not arrived yet."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from agenttasks.api.task import AgentTaskStatus
from agenttasks.core.facts import JobFacts, TaskFacts

Key = tuple[str, str]


def revision(resource_version: str) -> int:
    # Opaque by contract, but etcd revisions in practice; unparsable ones compare as oldest.
    try:
        return int(resource_version)
    except ValueError:
        return -1


class ClusterView:
    def __init__(self) -> None:
        self._tasks: Mapping[Key, Iterable[TaskFacts]] | None = None
        self._jobs: Mapping[Key, Iterable[JobFacts]] | None = None
        self._dependents: Mapping[Key, Iterable[str]] | None = None
        self._written: dict[Key, tuple[int, AgentTaskStatus]] = {}

    def attach(self, tasks: Mapping[Key, Any], jobs: Mapping[Key, Any],
               dependents: Mapping[Key, Any]) -> None:
        """Kopf hands its indexes to handlers only; the first handler call passes them here."""
        self._tasks, self._jobs, self._dependents = tasks, jobs, dependents

    @property
    def attached(self) -> bool:
        return self._tasks is not None

    def task(self, key: Key) -> TaskFacts | None:
        if self._tasks is None:
            return None
        facts = next(iter(self._tasks.get(key, ())), None)
        if facts is None:
            self._written.pop(key, None)
            return None
        written = self._written.get(key)
        if written and written[0] > revision(facts.resource_version):
            return _with_status(facts, written[1], written[0])
        self._written.pop(key, None)
        return facts

    def jobs(self, key: Key) -> list[JobFacts]:
        if self._jobs is None:
            return []
        return list(self._jobs.get(key, ()))

    def task_keys(self) -> list[Key]:
        return list(self._tasks) if self._tasks is not None else []

    def job_keys(self) -> list[Key]:
        return list(self._jobs) if self._jobs is not None else []

    def dependents(self, key: Key) -> list[str]:
        """Names of the tasks in key's namespace whose dependsOn names key."""
        if self._dependents is None:
            return []
        return list(self._dependents.get(key, ()))

    def remember_status(self, key: Key, resource_version: str, status: AgentTaskStatus) -> None:
        self._written[key] = (revision(resource_version), status)


def _with_status(facts: TaskFacts, status: AgentTaskStatus, revision: int) -> TaskFacts:
    from dataclasses import replace

    return replace(facts, status=status, resource_version=str(revision))
