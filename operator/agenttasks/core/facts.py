"""What the operator knows about a task and its Jobs, gathered by the shell."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from agenttasks.api.task import AgentTaskSpec, AgentTaskStatus


@dataclass(frozen=True)
class JobFacts:
    """The parts of one attempt's Job that decisions depend on."""

    name: str
    attempt: int
    created: datetime
    owner_uid: str | None = None
    uid: str | None = None
    """The Job's own uid: its pods are read only when they are controlled by it."""
    suspended: bool = False
    active: int = 0
    terminating: int = 0
    """Pods being stopped (status.terminating): a suspended Job holds its slot until 0."""
    succeeded: int = 0
    outcome: Literal["Complete", "Failed"] | None = None
    outcome_reason: str = ""
    outcome_message: str = ""
    finished_at: datetime | None = None
    started_at: datetime | None = None
    """status.startTime: when the Job controller started it; its timeout counts from here."""
    deleting: bool = False
    termination_message: str | None = None
    """The pod's termination message, read by the shell once the attempt has finished and
    its result is not yet in status; None: not read."""

    @property
    def finished(self) -> bool:
        return self.outcome is not None


@dataclass(frozen=True)
class TaskFacts:
    """One AgentTask as read from the API server. ``spec`` is None when it did not parse,
    and ``spec_error`` then says why."""

    namespace: str
    name: str
    uid: str
    generation: int
    created: datetime
    spec: AgentTaskSpec | None
    status: AgentTaskStatus
    spec_error: str | None = None
    resource_version: str = ""
    rerun_of: str = ""
    """The task this one runs again, when a person asked for a rerun (and who asked)."""
    requested_by: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)
