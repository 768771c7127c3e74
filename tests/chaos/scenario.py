"""The chaos run's task mix, and the outcome each task's spec implies whatever the faults.

Every kind is built so that its terminal phase, reason, attempts and history follow from the
spec alone (docs/agenttask.md, docs/queue.md), not from timing. The two kinds that race a
moment on purpose (cancelled or past its deadline while maybe running) allow attempts 0 or 1,
and the checker then demands exactly as many Jobs as attempts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

LONG = "600s"  # a pod that runs until something stops it
History = tuple[tuple[str, str], ...]  # (result, reason) of each finished attempt, in order
SUCCEEDED = ("Succeeded", "Succeeded")
FAILED = ("Failed", "JobFailed")
TIMED_OUT = ("Failed", "TimedOut")
DELETED = ("Failed", "JobDeleted")


@dataclass(frozen=True)
class Expected:
    phase: str
    reason: str
    attempts: frozenset[int]
    history: History  # for the exact kinds; the racing kinds finish no attempt: ()


@dataclass
class TaskPlan:
    """One AgentTask of the run: how to create it and what it must end as."""

    name: str
    kind: str
    template: dict[str, Any]
    priority: int = 0
    retries: int = 0
    timeout: str | None = None
    deadline_in: float | None = None  # seconds from creation
    depends_on: list[str] = field(default_factory=list)
    cancelled: bool = False
    expected: Expected = field(default_factory=lambda: _exact("Completed", "Succeeded",
                                                              (SUCCEEDED,)))
    cancel_at: float = 1.0  # racing "cancel" kind: fraction of the run at which it is cancelled
    job_deleted: bool = False  # its running Job was deleted by the watch-expiry fault

    def manifest(self, now: datetime) -> dict[str, Any]:
        spec: dict[str, Any] = {"template": self.template, "priority": self.priority}
        if self.retries:
            # Short delays keep the run short; the backoff arithmetic has unit tests.
            spec["retries"] = {"limit": self.retries, "delay": "1s", "backoffFactor": 2}
        if self.timeout:
            spec["timeout"] = self.timeout
        if self.deadline_in is not None:
            moment = now + timedelta(seconds=self.deadline_in)
            spec["deadline"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.depends_on:
            spec["dependsOn"] = self.depends_on
        if self.cancelled:
            spec["cancelled"] = True
        return {"metadata": {"name": self.name, "labels": {"chaos.agenttasks.io/kind":
                                                           self.kind}}, "spec": spec}

    def outcome(self) -> Expected:
        if self.job_deleted:  # attempt 1's Job was deleted while it ran (ok and victim kinds)
            if self.retries:
                return _exact("Completed", "Succeeded", (DELETED, SUCCEEDED))
            return _exact("Failed", "JobDeleted", (DELETED,))
        return self.expected


def pod(duration: str, result: str | None = None, fail_first: bool = False) -> dict[str, Any]:
    """A pod template kwok runs for ``duration`` (see devcluster/stages.yaml)."""
    annotations = {"sim.agenttasks.io/duration": duration}
    if result:
        annotations["sim.agenttasks.io/result"] = result
    if fail_first:
        annotations["sim.agenttasks.io/fail-first-attempt"] = "true"
    return {"metadata": {"annotations": annotations},
            "spec": {"containers": [{"name": "agent", "image": "busybox"}]}}


def _exact(phase: str, reason: str, history: History, attempts: int | None = None) -> Expected:
    count = len(history) if attempts is None else attempts
    return Expected(phase, reason, frozenset({count}), history)


def _racing(phase: str, reason: str) -> Expected:
    return Expected(phase, reason, frozenset({0, 1}), ())


# Share of each kind in the run; chains take whole chains of 3 or 4 tasks.
MIX = {"ok": 0.26, "flaky": 0.12, "failing": 0.08, "timeout": 0.08, "chain": 0.20,
       "doomed": 0.08, "past-deadline": 0.03, "deadline": 0.04, "cancel": 0.04,
       "pre-cancelled": 0.02, "victim": 0.05}
PRIORITIES = (-10, 0, 0, 5, 10, 100)


def build(total: int, rng: random.Random) -> list[TaskPlan]:
    """``total`` tasks in the proportions of MIX (each kind at least once when total allows),
    shuffled, since dependents may be created before what they depend on."""
    plans: list[TaskPlan] = []
    counts = {kind: max(1, round(share * total)) for kind, share in MIX.items()}
    counts["ok"] += total - sum(counts.values())
    for kind, count in counts.items():
        made = 0
        while made < count:
            group = _make(kind, len(plans), min(count - made, rng.choice((3, 4))), rng)
            plans += group
            made += len(group)
    order = list(plans)
    rng.shuffle(order)
    return order


def _make(kind: str, index: int, room: int, rng: random.Random) -> list[TaskPlan]:
    name = f"{kind}-{index:04d}"
    priority = rng.choice(PRIORITIES)
    short = f"{rng.randint(1, 3)}s"
    if kind == "ok":
        # Some carry a far deadline: the deadline code runs and must not interfere.
        far = 7 * 24 * 3600.0 if rng.random() < 0.3 else None
        return [TaskPlan(name, kind, pod(short), priority, rng.randint(0, 2), deadline_in=far)]
    if kind == "flaky":
        return [TaskPlan(name, kind, pod(short, fail_first=True), priority, rng.randint(1, 2),
                         expected=_exact("Completed", "Succeeded", (FAILED, SUCCEEDED)))]
    if kind == "failing":
        retries = rng.randint(0, 2)
        return [TaskPlan(name, kind, pod("1s", "Failed"), priority, retries,
                         expected=_exact("Failed", "JobFailed", (FAILED,) * (retries + 1)))]
    if kind == "timeout":
        retries = rng.randint(0, 1)
        return [TaskPlan(name, kind, pod(LONG), priority, retries, timeout="2s",
                         expected=_exact("Failed", "TimedOut", (TIMED_OUT,) * (retries + 1)))]
    if kind == "past-deadline":
        return [TaskPlan(name, kind, pod(short), priority, deadline_in=-60,
                         expected=_exact("Failed", "DeadlineExceeded", ()))]
    if kind == "deadline":
        return [TaskPlan(name, kind, pod(LONG), 100, 1, deadline_in=rng.uniform(8, 20),
                         expected=_racing("Failed", "DeadlineExceeded"))]
    if kind == "cancel":
        return [TaskPlan(name, kind, pod(LONG), priority, cancel_at=rng.uniform(0.05, 0.85),
                         expected=_racing("Cancelled", "Cancelled"))]
    if kind == "pre-cancelled":
        return [TaskPlan(name, kind, pod(short), priority, cancelled=True,
                         expected=_exact("Cancelled", "Cancelled", ()))]
    if kind == "victim":
        # Runs long enough to be caught running by the watch-expiry fault, which deletes its
        # Job; outcome() then expects the retry.
        return [TaskPlan(name, kind, pod("8s"), priority, 1)]
    if kind == "chain":
        return _chain(name, room, rng, head_fails=False)
    if kind == "doomed":
        return _chain(name, room, rng, head_fails=True)
    raise ValueError(kind)


def _chain(name: str, length: int, rng: random.Random, head_fails: bool) -> list[TaskPlan]:
    plans: list[TaskPlan] = []
    for step in range(length):
        plan = TaskPlan(f"{name}-{step}", "doomed" if head_fails else "chain",
                        pod(f"{rng.randint(1, 2)}s"), rng.choice(PRIORITIES),
                        depends_on=[plans[-1].name] if plans else [])
        if head_fails and step == 0:
            retries = rng.randint(0, 1)
            plan.template, plan.retries = pod("1s", "Failed"), retries
            plan.expected = _exact("Failed", "JobFailed", (FAILED,) * (retries + 1))
        elif head_fails:
            plan.expected = _exact("Failed", "DependencyFailed", ())
        plans.append(plan)
    return plans


def utcnow() -> datetime:
    return datetime.now(UTC)
