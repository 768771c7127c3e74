"""What a decision asks the shell to do."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from agenttasks.api.task import AgentTaskStatus
from agenttasks.core.batch import ItemPlan
from agenttasks.core.dependencies import DependencyState


@dataclass(frozen=True)
class CreateJob:
    attempt: int
    name: str
    items: ItemPlan | None = None
    """A batch attempt's items and the targets of its Job."""
    memory: dict[str, dict[str, str]] = field(default_factory=dict)
    """Raised memory per container ({"requests": .., "limits": ..}) after OOM kills."""


@dataclass(frozen=True)
class SetJobSuspended:
    name: str
    suspend: bool


@dataclass(frozen=True)
class SetWorkloadActive:
    """Kueue's Workload of a Job (the one labelled with the Job's uid): spec.active false
    evicts it (Kueue suspends the Job and frees its quota), true queues it again. How a
    Kueue task pauses: Kueue owns the Job's spec.suspend, and unsuspends an admitted Job."""

    job: str
    job_uid: str
    active: bool


@dataclass(frozen=True)
class DeleteJob:
    name: str


@dataclass(frozen=True)
class DeleteTask:
    """The task itself, once its spec.ttlAfterFinished (or the operator's default) has
    passed; ``uid`` is the precondition that keeps a task created since under the same
    name from being deleted."""

    uid: str


@dataclass(frozen=True)
class Emit:
    """An Event on the task."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


Action = CreateJob | SetJobSuspended | SetWorkloadActive | DeleteJob | DeleteTask | Emit


@dataclass(frozen=True)
class Gates:
    """What the rest of the operator says about starting this task, decided elsewhere:
    the slot ledger's grant, the dependencies, the plan, and whether the API server refused
    the Job of the attempt that was to start."""

    slot_granted: bool = True
    queue_message: str = "waiting for a free slot"
    dependencies: DependencyState = field(default_factory=DependencyState)
    plan_refusal: str | None = None
    job_refused: str | None = None
    """Why the API server refused to create this attempt's Job (a spec it cannot run)."""
    identity_refusal: str | None = None
    """Why the operator will not run this template at all (its own namespace or
    ServiceAccount, core.privilege)."""


OPEN_GATES = Gates()


@dataclass(frozen=True)
class Decision:
    status: AgentTaskStatus
    actions: tuple[Action, ...] = ()
    wake_at: datetime | None = None
    # Ready to start an attempt and waiting only for a slot from the slot ledger.
    wants_slot: bool = False
