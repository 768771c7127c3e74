"""The visible queue: for each task that has not started, where it stands, what it waits for,
and when it should start. Pure: (waiting tasks, running slots, limits, observed slot releases,
now) in, a view out; nothing here is written to the API server.

**Positions.** The tasks that wait only for a slot are put in the order in which the queue
would grant them, by asking ``core.queue.grant_order`` itself (``grant_sequence``, the one
place that calls it) while slots are freed one by one, in the order they were taken. So the
positions follow whatever order the grant decision makes (priority, aging, per-namespace
limits, concurrency keys, the fair share and its turns), and a task's *releases ahead* is
the number of slot releases that must happen before its grant. Each ordering costs
N log N, so slots are freed one at a time only for the first ``ONE_BY_ONE`` places; up to
``EXACT_PLACES`` every running slot frees at once (a wave: the i-th grant of a wave needed
i of its releases); the tasks behind those keep the decision's order with the limits
lifted, one release per place (their estimates are far off, where the rate's drift
matters more than the order).

**The estimate (ETA).** Slots are taken to free as a Poisson process at the rate observed
over the last ``WINDOW`` (``release_rate``: m further releases in the T seconds since the
first release in the window, λ = m / T; the window starts no earlier than when the operator
began observing). A task with n releases ahead is expected
to start after n / λ. Two things make that uncertain: the n releases themselves (the time to
the n-th event of a Poisson process has a relative spread of 1/√n) and the rate, which m
observations know to a relative spread of 1/√m. The interval is the central 80 % of a
log-normal with that combined spread s = √(1/n + 1/m): [n/λ · e^(-1.28 s), n/λ · e^(1.28 s)].
A task waiting for ``startAfter`` or its retry delay is placed in the queue as if it were
ready now: it starts at the later of that time and its place's estimate. A task waiting
for dependencies or paused has no estimate (nothing observed says when those end), and
neither has anything before the first release is seen.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from agenttasks.api.task import Phase, Reason
from agenttasks.core.facts import TaskFacts
from agenttasks.core.queue import (
    Aging,
    Candidate,
    Limits,
    Running,
    Turns,
    WaitsFor,
    candidate_of,
    grant_order,
    queue_plan,
    take_turn,
    wait_message,
    wait_reasons,
)

WINDOW = timedelta(minutes=10)
"""Releases older than this do not count towards the observed rate."""
Z_80 = 1.2816  # the 90th percentile of the standard normal: a central 80 % interval
ONE_BY_ONE = 32
EXACT_PLACES = 256
MAX_RELEASES_KEPT = 10_000

Wait = Literal["queue", "dependencies", "startAfter", "retryDelay", "paused"]
Reason_ = Literal["Starting", "GlobalLimit", "NamespaceLimit", "NamespaceShare",
                  "ConcurrencyKey", "Priority", "Dependencies", "StartAfter", "RetryDelay",
                  "Paused"]


@dataclass(frozen=True)
class WaitingTask:
    """A task that has not started its next attempt, and what holds it back first."""

    candidate: Candidate
    wait: Wait
    until: datetime | None = None
    """When ``startAfter`` or the retry delay ends."""
    missing: tuple[str, ...] = ()
    """The dependencies not yet Completed."""


def waiting_of(task: TaskFacts, dependency_phases: Mapping[str, Phase | None],
               holds_slot: bool, now: datetime) -> WaitingTask | None:
    """What ``task`` waits for, by the lifecycle's own gates in their order; None when it
    does not wait (terminal, cancelled, unparsable, or one of its Jobs holds a slot).

    ``dependency_phases`` names the phase of each task of its namespace it depends on
    (None: it does not exist yet)."""
    spec, status = task.spec, task.status
    if spec is None or spec.cancelled or status.terminal() or holds_slot:
        return None
    if status.phase == Phase.IN_PROGRESS:
        return None  # its Job is there or about to be; the next pass says what happens
    candidate = candidate_of(task)
    if status.attempts == 0:
        missing = tuple(d for d in spec.depends_on
                        if dependency_phases.get(d) != Phase.COMPLETED)
        if missing:
            return WaitingTask(candidate, "dependencies", missing=missing)
    if spec.paused:
        return WaitingTask(candidate, "paused")
    if status.attempts == 0 and spec.start_after and now < spec.start_after:
        return WaitingTask(candidate, "startAfter", until=spec.start_after)
    retry = status.next_retry_time
    if status.reason == Reason.RETRY_SCHEDULED and retry and now < retry:
        return WaitingTask(candidate, "retryDelay", until=retry)
    return WaitingTask(candidate, "queue")


# --- the order --------------------------------------------------------------------------------


def grant_sequence(candidates: Iterable[Candidate], running: Running, limits: Limits,
                   now: datetime, aging: Aging | None = None,
                   turns: Turns | None = None) -> list[tuple[Candidate, int]]:
    """Each candidate, in the order the queue would grant them, with the number of slot
    releases that must happen first. The one call of the grant decision: slots are freed in
    the order they were taken (those running now first: ``_holders``), and the decision is
    asked again after each batch of releases, with the slots each namespace and each
    concurrency key holds then and the turns its grants have taken (from ``turns``, the
    ledger's, so that ties go as the ledger's next pass will break them)."""
    remaining = {c.key: c for c in candidates}
    holders = deque(_holders(running))
    in_use = Counter(ns for ns, _ in holders)
    in_key = Counter(held for held in holders if held[1])
    taken = dict(turns or {})
    released, freed = 0, 0  # all releases so far; those of the last wave
    order: list[tuple[Candidate, int]] = []
    while remaining:
        granted = [] if len(order) >= EXACT_PLACES else grant_order(
            remaining.values(), Running(len(holders), dict(in_use), dict(in_key)), limits,
            now, aging, taken)
        for i, candidate in enumerate(granted):
            order.append((candidate, released - freed + min(i + 1, freed)))
            del remaining[candidate.key]
            held = (candidate.namespace, candidate.label)
            holders.append(held)
            in_use[held[0]] += 1
            if held[1]:
                in_key[held] += 1
            take_turn(taken, candidate.namespace, limits)
        freed = 0
        if granted:
            continue
        if len(order) >= EXACT_PLACES or not holders:
            # Far places (or limits that admit nothing): the decision's order with the limits
            # lifted, one release per place; queue_plan keeps the tasks a key skips, last.
            lifted = Limits(0, 0, limits.namespace_weights)
            rest = queue_plan(remaining.values(), Running(0, {}), lifted, now, aging, taken)
            order += [(p.candidate, released + i + 1) for i, p in enumerate(rest)]
            break
        # Whose slot frees decides the next grant (namespace and key limits): the oldest's.
        wave = 1 if len(order) < ONE_BY_ONE else len(holders)
        for _ in range(wave):
            held = holders.popleft()
            in_use[held[0]] -= 1
            if held[1]:
                in_key[held] -= 1
        in_use, in_key = +in_use, +in_key  # drop the zeros
        released, freed = released + wave, wave
    return order


def _holders(running: Running) -> list[tuple[str, str]]:
    """The slots in use as (namespace, concurrency key label or ""), in the order the
    sequence frees them: by namespace name, and within one, the keyed slots first (by
    label). Nothing says whose Job ends first; this order at least frees a key that holds
    tasks back no later than the namespace's other slots."""
    holders: list[tuple[str, str]] = []
    for namespace in sorted(running.by_namespace):
        keyed = sorted((label, n) for (ns, label), n in running.by_key.items()
                       if ns == namespace and label)
        holders += [(namespace, label) for label, n in keyed for _ in range(n)]
        plain = running.by_namespace[namespace] - sum(n for _, n in keyed)
        holders += [(namespace, "")] * max(plain, 0)
    return holders


# --- the rate and the estimate ----------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    releases: int
    """Slot releases seen in the window."""
    seconds: float
    """The window's length: ``WINDOW``, or less when observing began later."""

    @property
    def per_second(self) -> float:
        return self.releases / self.seconds if self.seconds > 0 else 0.0


def release_rate(releases: Iterable[datetime], now: datetime, observed_since: datetime,
                 window: timedelta = WINDOW) -> Rate:
    """The observed rate of slot releases over the last ``window`` (or since
    ``observed_since``, when that is later): counted from the first release in it, m - 1
    releases over the time since that one, so that the time before anything ran (the
    operator's start, an empty queue) does not dilute the rate. A single release counts
    over the whole window."""
    start = max(now - window, observed_since)
    seen = sorted(r for r in releases if start < r <= now)
    if len(seen) >= 2:
        return Rate(len(seen) - 1, (now - seen[0]).total_seconds())
    return Rate(len(seen), max((now - start).total_seconds(), 0.0))


@dataclass(frozen=True)
class Estimate:
    start: datetime
    """The expected start."""
    earliest: datetime
    latest: datetime
    """The central 80 % interval."""


def estimate(ahead: int, rate: Rate, now: datetime,
             not_before: datetime | None = None) -> Estimate | None:
    """When a task with ``ahead`` slot releases before its grant should start: see the
    module's docstring. None before any release has been seen."""
    floor = max(now, not_before) if not_before else now
    if ahead <= 0:
        return Estimate(floor, floor, floor)
    if rate.releases <= 0 or rate.per_second <= 0:
        return None
    wait = ahead / rate.per_second
    spread = Z_80 * math.sqrt(1 / ahead + 1 / rate.releases)

    def at(seconds: float) -> datetime:
        return max(floor, now + timedelta(seconds=seconds))

    return Estimate(at(wait), at(wait * math.exp(-spread)), at(wait * math.exp(spread)))


# --- the view ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFacts:
    waiting: Sequence[WaitingTask]
    running: Running
    limits: Limits
    releases: Sequence[datetime]
    observed_since: datetime
    now: datetime
    aging: Aging | None = None
    turns: Turns | None = None
    """The ledger's turns (core.slots), which break ties between namespaces."""


@dataclass(frozen=True)
class Entry:
    namespace: str
    name: str
    priority: int
    reason: Reason_
    message: str
    position: int | None = None
    """1-based place in the queue of every watched namespace; None when not in the queue."""
    namespace_position: int | None = None
    """1-based place among the queued tasks of its namespace."""
    ahead: int | None = None
    """Slot releases that must happen before its grant."""
    eta: Estimate | None = None
    until: datetime | None = None
    waiting_for: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


@dataclass(frozen=True)
class QueueView:
    entries: list[Entry]
    """The queue in grant order, then the tasks with a time, then the others."""
    rate: Rate
    running: Running
    limits: Limits
    now: datetime
    queued: int = 0
    """How many wait in the queue, in every watched namespace."""
    by_namespace: Mapping[str, int] = field(default_factory=dict)

    def visible(self, namespaces: frozenset[str] | None) -> list[Entry]:
        """The entries of ``namespaces`` (None: all)."""
        return [e for e in self.entries if namespaces is None or e.namespace in namespaces]


def build(facts: QueueFacts) -> QueueView:
    """The view: positions from ``grant_sequence``, reasons from the limits, estimates from
    the observed release rate."""
    now, running, limits = facts.now, facts.running, facts.limits
    rate = release_rate(facts.releases, now, facts.observed_since)
    queued = [w for w in facts.waiting if w.wait == "queue"]
    timed = [w for w in facts.waiting if w.wait in ("startAfter", "retryDelay")]
    entries: list[Entry] = []
    per_ns: Counter[str] = Counter()
    sequence = grant_sequence([w.candidate for w in queued], running, limits, now, facts.aging,
                              facts.turns)
    waiting_ns = frozenset(w.candidate.namespace for w in queued)
    for position, (candidate, ahead) in enumerate(sequence, start=1):
        per_ns[candidate.namespace] += 1
        reason, message = _queue_reason(candidate, ahead, running, limits, waiting_ns)
        entries.append(Entry(candidate.namespace, candidate.name, candidate.priority, reason,
                             f"{message}; {_ahead_text(ahead)}" if ahead else message,
                             position, per_ns[candidate.namespace], ahead,
                             estimate(ahead, rate, now)))
    if timed:  # as if ready now, each at its place among the queue
        places = dict((c.key, ahead) for c, ahead in grant_sequence(
            [w.candidate for w in (*queued, *timed)], running, limits, now, facts.aging,
            facts.turns))
        later = []
        for w in timed:
            place = places.get(w.candidate.key)
            eta = estimate(place, rate, now, w.until) if place is not None else None
            later.append(_timed_entry(w, place, eta))
        entries += sorted(later, key=lambda e: (e.until or now, e.namespace, e.name))
    rest = [w for w in facts.waiting if w.wait in ("dependencies", "paused")]
    entries += [_blocked_entry(w) for w in sorted(rest, key=lambda w: w.candidate.key)]
    return QueueView(entries, rate, running, limits, now, len(sequence), dict(per_ns))


def _queue_reason(candidate: Candidate, ahead: int, running: Running, limits: Limits,
                  waiting_ns: frozenset[str]) -> tuple[Reason_, str]:
    if not ahead:
        return "Starting", "a slot is free: starting"
    namespace = candidate.namespace
    # The queue's own word for a key or a share (core.queue.wait_reasons), else the limits.
    why = wait_reasons(candidate, running, limits, waiting_ns)
    if why and why[0] in (WaitsFor.CONCURRENCY_KEY, WaitsFor.NAMESPACE_SHARE):
        reason: Reason_ = "ConcurrencyKey" if why[0] == WaitsFor.CONCURRENCY_KEY \
            else "NamespaceShare"
        return reason, wait_message(candidate, running, limits, waiting_ns)
    ns_limit = limits.max_running_per_namespace
    if ns_limit and running.of(namespace) >= ns_limit:
        return "NamespaceLimit", (f"waiting for namespace {namespace}'s limit: "
                                  f"{running.of(namespace)}/{ns_limit} running")
    if limits.max_running and running.total >= limits.max_running:
        return "GlobalLimit", \
            f"waiting for the global limit: {running.total}/{limits.max_running} running"
    return "Priority", "waiting for tasks ahead of it to start"


def _ahead_text(ahead: int) -> str:
    return f"{ahead} slot release{'s' if ahead != 1 else ''} before it"


def _timed_entry(w: WaitingTask, ahead: int | None, eta: Estimate | None) -> Entry:
    c = w.candidate
    until = w.until.isoformat() if w.until else "?"
    if w.wait == "startAfter":
        reason: Reason_ = "StartAfter"
        message = f"waiting until {until} (spec.startAfter)"
    else:
        reason, message = "RetryDelay", f"waiting out its retry delay until {until}"
    return Entry(c.namespace, c.name, c.priority, reason, message, ahead=ahead, eta=eta,
                 until=w.until)


def _blocked_entry(w: WaitingTask) -> Entry:
    c = w.candidate
    if w.wait == "paused":
        return Entry(c.namespace, c.name, c.priority, "Paused",
                     "paused: set spec.paused to false to queue it")
    return Entry(c.namespace, c.name, c.priority, "Dependencies",
                 "waiting for dependencies: " + ", ".join(w.missing), waiting_for=w.missing)


# --- what the shell keeps ---------------------------------------------------------------------


class ReleaseLog:
    """The moments slots were released, newest last, bounded (the oldest are dropped).
    No clock: the shell passes each moment."""

    def __init__(self, since: datetime, keep: int = MAX_RELEASES_KEPT) -> None:
        self.since = since
        """When observing began: the rate's window starts no earlier."""
        self._times: deque[datetime] = deque(maxlen=keep)

    def record(self, at: datetime, count: int = 1) -> None:
        for _ in range(max(0, count)):
            self._times.append(at)

    def times(self) -> list[datetime]:
        return list(self._times)
