"""The slot ledger: which Jobs hold a run slot, which tasks wait for one, who gets one next.

Pure: events in, grants out; no I/O and no clock of its own (``now`` is passed in). The
controller feeds it every Job event and every task's wish, and acts on the grants.

What holds a slot (the one definition, shared with the chaos checker and the benchmark):

1. A Job holds a slot while it exists, has not finished (no Complete or Failed condition),
   and is not suspended with no pods left (`holds_slot`). A Job that is being deleted holds
   its slot until it is gone: the operator deletes in the foreground, so a Job outlives its
   pods. Each Job counts, not each task: a retry waits while the old attempt's pods stop.
2. A grant holds a slot from the moment it is made until the ledger has seen the Job that
   was created (or resumed) under it, either holding the slot itself or already finished,
   or until the shell says that no Job was made under it (`release`). A grant for which a
   create was sent is never given back on a mere change of mind (`withdraw`): the create
   may have succeeded, and its Job may not be visible yet.
3. No grant is made before the Jobs that exist are known (`jobs_listed`, after the first
   complete listing) and every task of the first task listing has been looked at
   (`seen`): start-up grants by priority from the whole queue, and counts every running
   Job first. A standby replica keeps its informers, hence this ledger, current while it
   waits; when it takes over it drops the grants it made before a pause (`drop_unsent`)
   and grants from what it sees then.
4. Order and limits are core.queue.grant_order's: a full namespace or concurrency key is
   skipped, a full cluster stops the pass; each slot goes to the namespace that holds the
   fewest per weight (ties: the namespace whose turn it is), and within a namespace by
   effective priority (with aging), then age, then name.
5. Slots are counted per namespace and per (namespace, concurrency key label): a Job by its
   agenttasks.io/concurrency-key label, a grant by its task's key. A restarted operator
   counts both from the Jobs it lists.
6. Turns (core.queue, rule 3) are kept here, in memory: a grant moves its namespace's turn
   on by 1 ÷ weight. A namespace that starts waiting again takes at least the smallest turn
   of those that wait, so it cannot save turns up while it has nothing to run. A restart
   sets every turn to 0, which only changes who wins the next ties.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import TypeVar

from agenttasks.api.meta import Key
from agenttasks.core.facts import JobFacts
from agenttasks.core.queue import (
    Aging,
    Candidate,
    Limits,
    Placement,
    Running,
    grant_order,
    queue_plan,
    take_turn,
    wait_message,
)

K = TypeVar("K")

JobKey = Key
"""(namespace, Job name); a task's Key is (namespace, task name)."""


def holds_slot(job: JobFacts) -> bool:
    """Rule 1: not finished, and not suspended with no pods left. A Job that Kueue admits
    holds none: Kueue's quota counts it, and ours does not count it twice."""
    if job.finished or job.queue_name:
        return False
    return not (job.suspended and job.active == 0 and job.terminating == 0)


def running_of(jobs: Iterable[tuple[str, JobFacts]]) -> Running:
    """Slots in use as a listing of (namespace, Job) shows them, with no grants: what a
    reader outside the operator (the CLI, the chaos checker) can count."""
    by_ns: dict[str, int] = {}
    by_key: dict[tuple[str, str], int] = {}
    for namespace, job in jobs:
        if holds_slot(job):
            by_ns[namespace] = by_ns.get(namespace, 0) + 1
            if job.concurrency_key:
                held = (namespace, job.concurrency_key)
                by_key[held] = by_key.get(held, 0) + 1
    return Running(sum(by_ns.values()), by_ns, by_key)


@dataclass
class _Grant:
    granted_at: datetime
    label: str = ""
    """Its task's concurrency key label; empty without one."""
    job: str | None = None
    """The Job created or resumed under this grant, once the shell has sent that request."""


@dataclass(frozen=True)
class _JobState:
    task: Key
    holds: bool
    finished: bool
    label: str = ""


class SlotLedger:
    def __init__(self, limits: Limits, aging: Aging | None = None) -> None:
        self.limits, self.aging = limits, aging
        self._jobs: dict[JobKey, _JobState] = {}
        self._grants: dict[Key, _Grant] = {}
        self._waiting: dict[Key, Candidate] = {}
        self._jobs_listed = False
        self._unseen: set[Key] | None = None  # None: the first task listing is not in yet
        # Slots in use per namespace (holding Jobs plus grants), kept as they change: every
        # Job event asks for them, and most Jobs a long-running cluster keeps are finished.
        self._in_use: dict[str, int] = {}
        self._in_use_by_key: dict[tuple[str, str], int] = {}
        self._waiting_by_ns: dict[str, int] = {}  # the namespaces with waiting work
        self._turns: dict[str, Fraction] = {}  # rule 6

    # --- facts ----------------------------------------------------------------------------
    def job(self, namespace: str, task: str, job: JobFacts) -> None:
        """A Job of ``task`` as the watch shows it now (added or modified)."""
        state = _JobState((namespace, task), holds_slot(job), job.finished, job.concurrency_key)
        before = self._jobs.get((namespace, job.name))
        if before is not None:
            self._count(namespace, -int(before.holds), before.label)
        self._count(namespace, int(state.holds), state.label)
        self._jobs[(namespace, job.name)] = state
        self._resolve(state.task, job.name, state.holds or state.finished)

    def job_gone(self, namespace: str, name: str) -> None:
        """A Job was deleted (or vanished from a re-list)."""
        state = self._jobs.pop((namespace, name), None)
        if state is not None:
            self._count(namespace, -int(state.holds), state.label)
            self._resolve(state.task, name, True)

    def jobs_listed(self) -> None:
        """Every Job that exists has been reported: the slots in use are known."""
        self._jobs_listed = True

    def tasks_listed(self, keys: Iterable[Key]) -> None:
        """The first task listing: no grant until each of these has been looked at."""
        if self._unseen is None:
            self._unseen = set(keys)

    def seen(self, key: Key) -> None:
        """A reconcile has looked at ``key`` (and said whether it wants a slot)."""
        if self._unseen:
            self._unseen.discard(key)
            if not self._unseen:
                self._unseen = set()  # a set keeps its table's size: 5 MiB after 50,000

    # --- wishes ---------------------------------------------------------------------------
    def want(self, candidate: Candidate) -> None:
        """A ready task waits for a slot (again, with fresh facts, on every reconcile)."""
        if candidate.key in self._grants:
            return
        if candidate.key not in self._waiting:
            self._start_waiting(candidate.namespace)
        self._waiting[candidate.key] = candidate

    def withdraw(self, key: Key) -> None:
        """The task no longer wants a slot. A grant is given back only if no request was
        sent under it (rule 2)."""
        self._unwait(key)
        grant = self._grants.get(key)
        if grant is not None and grant.job is None:
            self._drop_grant(key)

    def sent(self, key: Key, job_name: str) -> None:
        """The shell sent the create (or the resume) of ``job_name`` under key's grant."""
        grant = self._grants.get(key)
        if grant is not None:
            grant.job = job_name
            state = self._jobs.get((key[0], job_name))
            self._resolve(key, job_name, state is not None and (state.holds or state.finished))

    def release(self, key: Key) -> None:
        """The shell knows no Job exists under key's grant (the API server refused the
        create, or a read found no Job): the slot is free again."""
        self._unwait(key)
        self._drop_grant(key)

    def drop_unsent(self) -> None:
        """A replica takes over (again): grants made before, with no request sent under
        them, were counted against a view that another replica has changed since; they are
        dropped and the tasks granted afresh."""
        for key in [k for k, g in self._grants.items() if g.job is None]:
            self._drop_grant(key)

    # --- decisions ------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Rule 3: the slots in use are known and the first listing has been looked at."""
        return self._jobs_listed and self._unseen is not None and not self._unseen

    def grant(self, now: datetime) -> list[Key]:
        """Grants what the limits allow to the waiting tasks, in queue order."""
        if not self.ready or not self._waiting:
            return []
        granted = grant_order(self._waiting.values(), self.running(), self.limits, now,
                              self.aging, self._turns)
        for candidate in granted:
            self._unwait(candidate.key)
            label = candidate.label
            self._grants[candidate.key] = _Grant(now, label)
            self._count(candidate.namespace, 1, label)
            take_turn(self._turns, candidate.namespace, self.limits)
        return [c.key for c in granted]

    def blocked(self, candidate: Candidate) -> bool:
        """Its namespace or its key is full: no pass could grant it now."""
        ns_limit = self.limits.max_running_per_namespace
        if ns_limit and self._in_use.get(candidate.namespace, 0) >= ns_limit:
            return True
        held = candidate.concurrency
        return held is not None and \
            self._in_use_by_key.get((candidate.namespace, held.label), 0) >= held.limit

    def plan(self, now: datetime) -> list[Placement]:
        """Every waiting task in grant order, with why it waits (core.queue.queue_plan)."""
        return queue_plan(self._waiting.values(), self.running(), self.limits, now, self.aging,
                          self._turns)

    def wait_message(self, candidate: Candidate) -> str:
        """Why ``candidate`` waits now, for its Queued status (core.queue.wait_message)."""
        return wait_message(candidate, self.running(), self.limits, self._waiting_by_ns.keys())

    # --- reading --------------------------------------------------------------------------
    def running(self) -> Running:
        """Slots in use: Jobs that hold one, plus grants not yet resolved into a Job."""
        return Running(total=self.in_use, by_namespace=dict(self._in_use),
                       by_key=dict(self._in_use_by_key))

    @property
    def in_use(self) -> int:
        return sum(self._in_use.values())

    def turns(self) -> dict[str, Fraction]:
        return dict(self._turns)

    def has_grant(self, key: Key) -> bool:
        return key in self._grants

    def granted_at(self, key: Key) -> datetime | None:
        grant = self._grants.get(key)
        return grant.granted_at if grant else None

    def awaited_job(self, key: Key) -> str | None:
        """The Job a grant waits to see, when a request was sent under it."""
        grant = self._grants.get(key)
        return grant.job if grant else None

    def waiting(self) -> list[Candidate]:
        return list(self._waiting.values())

    @property
    def anyone_waiting(self) -> bool:
        return bool(self._waiting)

    def is_waiting(self, key: Key) -> bool:
        return key in self._waiting

    # --- internals ------------------------------------------------------------------------
    def _resolve(self, key: Key, job_name: str, settled: bool) -> None:
        """Rule 2: a grant ends once its Job is seen holding the slot, finished, or gone."""
        grant = self._grants.get(key)
        if settled and grant is not None and grant.job == job_name:
            self._drop_grant(key)

    def _drop_grant(self, key: Key) -> None:
        grant = self._grants.pop(key, None)
        if grant is not None:
            self._count(key[0], -1, grant.label)

    def _count(self, namespace: str, delta: int, label: str = "") -> None:
        if delta:
            _add(self._in_use, namespace, delta)
            if label:
                _add(self._in_use_by_key, (namespace, label), delta)

    def _start_waiting(self, namespace: str) -> None:
        """Rule 6: a namespace that had nothing waiting takes at least the smallest turn
        of the namespaces that wait."""
        if namespace not in self._waiting_by_ns and self._waiting_by_ns:
            smallest = min(self._turns.get(ns, Fraction(0)) for ns in self._waiting_by_ns)
            self._turns[namespace] = max(self._turns.get(namespace, Fraction(0)), smallest)
        _add(self._waiting_by_ns, namespace, 1)

    def _unwait(self, key: Key) -> None:
        if self._waiting.pop(key, None) is not None:
            _add(self._waiting_by_ns, key[0], -1)


def _add(counts: dict[K, int], key: K, delta: int) -> None:
    """Adds ``delta`` to a count, dropping the entry at 0 (the dicts stay small)."""
    left = counts.get(key, 0) + delta
    if left:
        counts[key] = left
    else:
        del counts[key]
