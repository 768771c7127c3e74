"""The operator's in-memory view of tasks, their Jobs and their dependents: the informers'
indexes, plus the statuses we have just written and whose watch events have not arrived.

A terminal task is held as a TaskSummary (manifests.tasks.task_entry): its reconcile reads
the whole object from the API server on the rare pass that needs it, and every other reader
reads summaries only (``summary``), whatever the task's phase."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from agenttasks.api.meta import Key
from agenttasks.api.task import AgentTaskStatus, Phase
from agenttasks.core.facts import (
    JobFacts,
    TaskEntry,
    TaskFacts,
    TaskSummary,
    summary_of,
    with_status,
)
from agenttasks.manifests.tasks import status_document

from .overlay import OverlaidIndex

__all__ = ["TaskView"]


class TaskView:
    def __init__(self) -> None:
        self._tasks: OverlaidIndex[TaskEntry] = OverlaidIndex(with_status)
        self._jobs: Mapping[Key, Iterable[JobFacts]] | None = None
        self._dependents: Mapping[Key, Iterable[str]] | None = None
        self._writing: dict[Key, AgentTaskStatus] = {}
        self.complete = False
        """Whether the indexes hold every object of the initial listings."""

    def attach(self, tasks: Mapping[Key, Any], jobs: Mapping[Key, Any],
               dependents: Mapping[Key, Any]) -> None:
        self._tasks.attach(tasks)
        self._jobs, self._dependents = jobs, dependents

    def entry(self, key: Key) -> TaskEntry | None:
        """The whole facts of a task that may still act, the summary of a terminal one."""
        return self._tasks.get(key)

    def summary(self, key: Key) -> TaskSummary | None:
        entry = self._tasks.get(key)
        return summary_of(entry) if entry is not None else None

    def phase(self, key: Key) -> Phase | None:
        """The task's phase, without building a summary (a metrics scrape asks for every
        task's: summarising each running task there was a quarter of the operator's CPU in
        a webhook benchmark)."""
        entry = self._tasks.get(key)
        if entry is None:
            return None
        return entry.phase if isinstance(entry, TaskSummary) else entry.status.phase

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

    def writing(self, key: Key, status: AgentTaskStatus) -> None:
        """A status write of ``key`` is about to be sent."""
        self._writing[key] = status

    def written(self, key: Key, resource_version: str | None, status: AgentTaskStatus) -> None:
        """The write's answer: the revision it made (None: it failed). Until the watch shows
        that revision, the view shows ``status``."""
        self._writing.pop(key, None)
        if resource_version is not None:
            self._tasks.remember_status(key, resource_version, status)

    def only_our_write(self, event: TaskEntry) -> bool:
        """Whether a watch event shows nothing but the status we wrote: it has the revision
        our write returned, or, while the write's answer is still on its way (the watch can
        be faster), it holds the very status being written and every other fact as the view
        holds it. A pass would decide on the same facts again, so none is needed."""
        if self._tasks.is_own_write(event.key, event.resource_version):
            return True
        status = self._writing.get(event.key)
        current = self._tasks.get(event.key)
        if status is None or current is None:
            return False
        if isinstance(event, TaskSummary):
            # A terminal status: the summary holds every fact a pass over it reads.
            return replace(event, resource_version="") == replace(
                summary_of(with_status(current, status, "")), resource_version="")
        if not isinstance(current, TaskFacts):
            return False
        same = replace(event, status=status, resource_version="") == replace(
            current, status=status, resource_version="")
        return same and status_document(event.status) == status_document(status)
