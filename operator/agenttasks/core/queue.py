"""The slot queue's order and limits: which ready tasks are granted a slot now. Pure:
(ready tasks, running counts, limits, now).

Order: higher effective priority, then older creationTimestamp, then name. A task is skipped
only when its own namespace is full; when the global limit is reached nobody after it starts,
so a lower-priority task never takes capacity a higher-priority one waits for.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from agenttasks.api.duration import parse_duration
from agenttasks.core.facts import TaskFacts


@dataclass(frozen=True)
class Candidate:
    namespace: str
    name: str
    priority: int
    created: datetime
    waiting_since: datetime
    """Since when it has been ready: creation, or when its retry became due. Drives aging."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


def candidate_of(task: TaskFacts) -> Candidate:
    """A task as the queue sees it: waiting since its retry became due
    (``status.nextRetryTime``), else since it was created. The operator and ``agenttasks
    describe`` both rank through this, so they cannot disagree."""
    since = task.status.next_retry_time or task.created
    priority = task.spec.priority if task.spec is not None else 0
    return Candidate(task.namespace, task.name, priority, task.created, since)


@dataclass(frozen=True)
class Limits:
    max_running: int = 10
    """Across all watched namespaces; 0 means unlimited."""
    max_running_per_namespace: int = 0
    """0 means unlimited."""


@dataclass(frozen=True)
class Aging:
    """Anti-starvation: +step effective priority per interval of waiting."""

    step: int
    interval: timedelta

    @classmethod
    def parse(cls, text: str) -> Aging:
        """'1/5m': one step per five minutes."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\S+)\s*", text)
        if not match:
            raise ValueError(f"{text!r} is not STEP/INTERVAL, such as 1/5m")
        interval = parse_duration(match.group(2))
        if interval <= timedelta(0) or int(match.group(1)) < 1:
            raise ValueError(f"{text!r}: step and interval must be positive")
        return cls(int(match.group(1)), interval)

    def boost(self, waited: timedelta) -> int:
        if waited <= timedelta(0):
            return 0
        return self.step * int(waited / self.interval)


@dataclass(frozen=True)
class Running:
    total: int
    by_namespace: Mapping[str, int]

    def of(self, namespace: str) -> int:
        return self.by_namespace.get(namespace, 0)


def effective_priority(candidate: Candidate, now: datetime, aging: Aging | None) -> int:
    boost = aging.boost(now - candidate.waiting_since) if aging else 0
    return candidate.priority + boost


def order_key(candidate: Candidate, now: datetime,
              aging: Aging | None) -> tuple[int, datetime, str, str]:
    return (-effective_priority(candidate, now, aging), candidate.created, candidate.name,
            candidate.namespace)


def grant_order(candidates: Iterable[Candidate], running: Running, limits: Limits, now: datetime,
          aging: Aging | None = None) -> list[Candidate]:
    """The candidates to grant a slot now, in grant order."""
    total_free = limits.max_running - running.total if limits.max_running else None
    if total_free is not None and total_free <= 0:
        return []
    heap = [(order_key(c, now, aging), c) for c in candidates]
    heapq.heapify(heap)
    per_ns = dict(running.by_namespace)
    granted: list[Candidate] = []
    while heap and (total_free is None or len(granted) < total_free):
        _, candidate = heapq.heappop(heap)
        limit = limits.max_running_per_namespace
        if limit and per_ns.get(candidate.namespace, 0) >= limit:
            continue  # its namespace is full; other namespaces have their own capacity
        per_ns[candidate.namespace] = per_ns.get(candidate.namespace, 0) + 1
        granted.append(candidate)
    return granted


def wait_message(namespace: str, running: Running, limits: Limits) -> str:
    """Why a ready task waits, for its status message."""
    ns_limit = limits.max_running_per_namespace
    if ns_limit and running.of(namespace) >= ns_limit:
        return f"waiting for capacity in namespace {namespace}: " \
            f"{running.of(namespace)}/{ns_limit} running"
    if limits.max_running:
        return f"waiting for capacity: {running.total}/{limits.max_running} running"
    return "waiting for a higher-priority task to start first"
