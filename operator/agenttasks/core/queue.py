"""The slot queue's order and limits: which ready tasks are granted a slot now, and in what
order the others would be. Pure: (ready tasks, slots in use, limits, turns, now).

The rules, in the order they apply (docs/queue.md has a worked example):

1. **Limits.** A task is skipped while its namespace holds --max-running-per-namespace
   slots, or while its concurrency key (spec.concurrency, counted per namespace) holds as
   many slots as the task's own limit. Nothing is granted beyond --max-running.
2. **Fair share between namespaces.** Each slot goes to the namespace, among those with a
   task that limits do not skip, that holds the fewest slots per weight (slots ÷ weight,
   weight 1 unless --namespace-weight says otherwise). So a namespace that holds no slot
   goes first, and with all of them waiting the slots split by weight.
3. **Turns** break ties between namespaces: each grant moves its namespace's turn on by
   1 ÷ weight, and the smallest turn goes first (then the name). At one slot, or equal
   holdings, namespaces take turns, weighted: round-robin with equal weights.
4. **Priority decides within a namespace only**: higher effective priority (with aging),
   then older creationTimestamp, then name. Across namespaces only the share and the
   turns count, so no team can take another's share by raising its own priorities.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction

from agenttasks.api.duration import parse_duration
from agenttasks.core.concurrency import KeyLimit, key_limit
from agenttasks.core.facts import TaskFacts


@dataclass(frozen=True)
class Candidate:
    namespace: str
    name: str
    priority: int
    created: datetime
    waiting_since: datetime
    """Since when it has been ready: creation, or when its retry became due. Drives aging."""
    concurrency: KeyLimit | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def label(self) -> str:
        """Its concurrency key's label (counted per namespace); "" when it has no key."""
        return self.concurrency.label if self.concurrency is not None else ""


def candidate_of(task: TaskFacts) -> Candidate:
    """A task as the queue sees it: waiting since its retry became due
    (``status.nextRetryTime``), else since it was created. The operator and ``agenttasks
    describe`` both rank through this, so they cannot disagree."""
    since = task.status.next_retry_time or task.created
    spec = task.spec
    priority = spec.priority if spec is not None else 0
    concurrency = key_limit(spec.concurrency) if spec is not None else None
    return Candidate(task.namespace, task.name, priority, task.created, since, concurrency)


@dataclass(frozen=True)
class Limits:
    max_running: int = 10
    """Across all watched namespaces; 0 means unlimited."""
    max_running_per_namespace: int = 0
    """0 means unlimited."""
    namespace_weights: Mapping[str, int] = field(default_factory=dict)
    """--namespace-weight: a namespace's weight in the fair share; 1 when not named."""

    def weight(self, namespace: str) -> int:
        return self.namespace_weights.get(namespace, 1)


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
    """Slots in use: in all, per namespace, and per (namespace, key label)."""

    total: int
    by_namespace: Mapping[str, int]
    by_key: Mapping[tuple[str, str], int] = field(default_factory=dict)

    def of(self, namespace: str) -> int:
        return self.by_namespace.get(namespace, 0)

    def of_key(self, namespace: str, label: str) -> int:
        return self.by_key.get((namespace, label), 0)


Turns = Mapping[str, Fraction]
"""Each namespace's turn (rule 3); a namespace not in it is at 0."""


def take_turn(turns: dict[str, Fraction], namespace: str, limits: Limits) -> None:
    """Rule 3: a grant moves its namespace's turn on by 1 ÷ weight."""
    turns[namespace] = turns.get(namespace, Fraction(0)) + Fraction(1, limits.weight(namespace))


class WaitsFor(StrEnum):
    """Why a ready task holds no slot, as far as the queue knows."""

    NAMESPACE_LIMIT = "NamespaceLimit"
    """Its namespace holds --max-running-per-namespace slots."""
    CONCURRENCY_KEY = "ConcurrencyKey"
    """Its key holds as many slots as its spec.concurrency.limit."""
    NAMESPACE_SHARE = "NamespaceShare"
    """Every slot is taken, and its namespace holds its fair share or more: freed slots go
    to namespaces below theirs first."""
    CAPACITY = "Capacity"
    """Every slot is taken (--max-running); its namespace is below its share, so it is
    among the first to get a freed one."""


@dataclass(frozen=True)
class Placement:
    """One ready task in the queue, as queue_plan places it."""

    candidate: Candidate
    position: int
    """1 for the next task to be granted; granted ones first."""
    granted: bool
    """A free slot is its now (the ledger grants it in its next pass)."""
    waits_for: tuple[WaitsFor, ...]
    """Empty when granted; else every reason that holds now, the strongest first."""
    message: str
    """The first reason as a sentence, for a Queued status."""


def effective_priority(candidate: Candidate, now: datetime, aging: Aging | None) -> int:
    boost = aging.boost(now - candidate.waiting_since) if aging else 0
    return candidate.priority + boost


def order_key(candidate: Candidate, now: datetime,
              aging: Aging | None) -> tuple[int, datetime, str, str]:
    """Rule 4, the order within a namespace."""
    return (-effective_priority(candidate, now, aging), candidate.created, candidate.name,
            candidate.namespace)


class _Pass:
    """One grant pass: each step takes the namespace that rules 2 and 3 pick and grants its
    first task that the limits do not skip. A task skipped is skipped for the whole pass
    (grants only fill namespaces and keys further)."""

    def __init__(self, candidates: Iterable[Candidate], running: Running, limits: Limits,
                 now: datetime, aging: Aging | None, turns: Turns | None) -> None:
        self.limits = limits
        self.per_ns = dict(running.by_namespace)
        self.per_key = dict(running.by_key)
        self.turns = dict(turns or {})
        self.skipped: list[Candidate] = []
        self.queues: dict[str, list[tuple[tuple[int, datetime, str, str], Candidate]]] = {}
        for c in candidates:
            self.queues.setdefault(c.namespace, []).append((order_key(c, now, aging), c))
        self.namespaces: list[tuple[Fraction, Fraction, str]] = []
        for namespace, queue in self.queues.items():
            heapq.heapify(queue)
            if (entry := self._entry(namespace)) is not None:
                self.namespaces.append(entry)
        heapq.heapify(self.namespaces)

    def next(self) -> Candidate | None:
        if not self.namespaces:
            return None
        _, _, namespace = heapq.heappop(self.namespaces)
        _, granted = heapq.heappop(self.queues[namespace])
        self.per_ns[namespace] = self.per_ns.get(namespace, 0) + 1
        if granted.label:
            held = (namespace, granted.label)
            self.per_key[held] = self.per_key.get(held, 0) + 1
        take_turn(self.turns, namespace, self.limits)
        if (entry := self._entry(namespace)) is not None:
            heapq.heappush(self.namespaces, entry)
        return granted

    def _entry(self, namespace: str) -> tuple[Fraction, Fraction, str] | None:
        """Where ``namespace`` stands among those to pick from (rules 2 and 3), or None when
        the limits skip every task it has left; its skipped tasks move to ``skipped``."""
        queue = self.queues[namespace]
        ns_limit = self.limits.max_running_per_namespace
        if ns_limit and self.per_ns.get(namespace, 0) >= ns_limit:
            self.skipped += [c for _, c in sorted(queue)]
            queue.clear()
        while queue and self._key_full(queue[0][1]):
            self.skipped.append(heapq.heappop(queue)[1])
        if not queue:
            return None
        held = Fraction(self.per_ns.get(namespace, 0), self.limits.weight(namespace))
        return (held, self.turns.get(namespace, Fraction(0)), namespace)

    def _key_full(self, candidate: Candidate) -> bool:
        held = candidate.concurrency
        return held is not None and \
            self.per_key.get((candidate.namespace, held.label), 0) >= held.limit


def _free(running: Running, limits: Limits) -> int | None:
    return max(0, limits.max_running - running.total) if limits.max_running else None


def grant_order(candidates: Iterable[Candidate], running: Running, limits: Limits, now: datetime,
                aging: Aging | None = None, turns: Turns | None = None) -> list[Candidate]:
    """The candidates to grant a slot now, in grant order (rules 1 to 4)."""
    free = _free(running, limits)
    if free == 0:
        return []
    step = _Pass(candidates, running, limits, now, aging, turns)
    granted: list[Candidate] = []
    while free is None or len(granted) < free:
        candidate = step.next()
        if candidate is None:
            break
        granted.append(candidate)
    return granted


def queue_plan(candidates: Iterable[Candidate], running: Running, limits: Limits, now: datetime,
               aging: Aging | None = None, turns: Turns | None = None) -> list[Placement]:
    """Every candidate, in the order the queue would grant them, and why each waits.

    The first ones are those grant_order grants now. The next are the order in which
    freed slots would go if the slots in use stayed in use (the same pass, with
    --max-running lifted): a prediction, since the namespace whose Job ends first has one
    slot less then. Last come the tasks that the per-namespace limit or their key keeps
    waiting however many slots free (until a task of that namespace or key ends), by
    namespace, then rule 4. ``waits_for`` and ``message`` are about the slots in use once
    the grants of now are made, not about the simulated ones."""
    pool = list(candidates)
    free = _free(running, limits)
    waiting_ns = {c.namespace for c in pool}
    step = _Pass(pool, running, limits, now, aging, turns)
    order: list[Candidate] = []
    while (candidate := step.next()) is not None:
        order.append(candidate)
    granted = order if free is None else order[:free]
    after = _with(running, granted)
    places = [Placement(c, i, True, (), "granted a slot") for i, c in enumerate(granted, 1)]
    for candidate in order[len(granted):]:
        places.append(_placement(candidate, len(places) + 1, after, limits, waiting_ns))
    for candidate in sorted(step.skipped, key=lambda c: (c.namespace, order_key(c, now, aging))):
        places.append(_placement(candidate, len(places) + 1, after, limits, waiting_ns, step))
    return places


def _with(running: Running, granted: list[Candidate]) -> Running:
    """``running`` plus a slot for each of ``granted``."""
    by_ns, by_key = dict(running.by_namespace), dict(running.by_key)
    for c in granted:
        by_ns[c.namespace] = by_ns.get(c.namespace, 0) + 1
        if c.label:
            held = (c.namespace, c.label)
            by_key[held] = by_key.get(held, 0) + 1
    return Running(running.total + len(granted), by_ns, by_key)


def _placement(candidate: Candidate, position: int, running: Running, limits: Limits,
               waiting_ns: Collection[str], step: _Pass | None = None) -> Placement:
    """A task left waiting; ``step``: the pass that skipped it."""
    reasons = wait_reasons(candidate, running, limits, waiting_ns)
    message = wait_message(candidate, running, limits, waiting_ns)
    limited = (WaitsFor.NAMESPACE_LIMIT, WaitsFor.CONCURRENCY_KEY)
    if step is not None and (not reasons or reasons[0] not in limited):
        # Skipped in the simulation only: tasks ahead of it fill its namespace or key.
        why = WaitsFor.CONCURRENCY_KEY if step._key_full(candidate) \
            else WaitsFor.NAMESPACE_LIMIT
        reasons = (why, *(r for r in reasons if r != why))
        ahead = "have that key" if why == WaitsFor.CONCURRENCY_KEY else "fill the namespace"
        message = f"{_limit_message(why, candidate, running, limits)}, and tasks ahead of " \
            f"it in the queue {ahead}"
    return Placement(candidate, position, False, reasons, message)


def share_of(namespace: str, limits: Limits, waiting_ns: Collection[str]) -> Fraction:
    """A namespace's fair share of --max-running: in proportion to its weight among the
    namespaces with waiting work (itself included)."""
    weights = sum(limits.weight(ns) for ns in set(waiting_ns) | {namespace})
    return Fraction(limits.max_running * limits.weight(namespace), weights)


def wait_reasons(candidate: Candidate, running: Running, limits: Limits,
                 waiting_ns: Collection[str]) -> tuple[WaitsFor, ...]:
    """Why ``candidate`` would not get a slot now, the strongest first: its namespace's
    limit and its key hold however many slots free; the share and capacity only until
    some free. ``waiting_ns``: the namespaces with waiting work. Empty: nothing in the
    queue keeps it waiting (a pass would grant it)."""
    reasons: list[WaitsFor] = []
    ns_limit = limits.max_running_per_namespace
    if ns_limit and running.of(candidate.namespace) >= ns_limit:
        reasons.append(WaitsFor.NAMESPACE_LIMIT)
    held = candidate.concurrency
    if held is not None and running.of_key(candidate.namespace, held.label) >= held.limit:
        reasons.append(WaitsFor.CONCURRENCY_KEY)
    if limits.max_running and running.total >= limits.max_running:
        others = set(waiting_ns) - {candidate.namespace}
        if others and running.of(candidate.namespace) >= \
                share_of(candidate.namespace, limits, waiting_ns):
            reasons.append(WaitsFor.NAMESPACE_SHARE)
        else:
            reasons.append(WaitsFor.CAPACITY)
    return tuple(reasons)


def wait_message(candidate: Candidate, running: Running, limits: Limits,
                 waiting_ns: Collection[str] = ()) -> str:
    """Why a ready task waits, for its Queued status message: its strongest reason."""
    reasons = wait_reasons(candidate, running, limits, waiting_ns)
    if not reasons:
        return "waiting for a slot"
    why = reasons[0]
    if why == WaitsFor.NAMESPACE_SHARE:
        ns = candidate.namespace
        share = share_of(ns, limits, waiting_ns)
        weights = sum(limits.weight(n) for n in set(waiting_ns) | {ns})
        return f"waiting for its namespace's share: {ns} holds {running.of(ns)} of " \
            f"{limits.max_running} slots, its share is {_number(share)} (weight " \
            f"{limits.weight(ns)} of {weights} among the namespaces waiting)"
    if why == WaitsFor.CAPACITY:
        return f"waiting for capacity: {running.total}/{limits.max_running} running"
    return _limit_message(why, candidate, running, limits)


def _limit_message(why: WaitsFor, candidate: Candidate, running: Running,
                   limits: Limits) -> str:
    ns = candidate.namespace
    held = candidate.concurrency
    if why == WaitsFor.CONCURRENCY_KEY and held is not None:
        return f'waiting for concurrency key "{held.key}": ' \
            f"{running.of_key(ns, held.label)}/{held.limit} running"
    return f"waiting for capacity in namespace {ns}: " \
        f"{running.of(ns)}/{limits.max_running_per_namespace} running"


def _number(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):.3g}"
