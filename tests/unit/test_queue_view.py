"""The visible queue (core.queue_view): positions from the grant order, reasons, and the
estimate of when each task starts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agenttasks.api.task import AgentTaskSpec, AgentTaskStatus, Phase, Reason
from agenttasks.core.concurrency import KeyLimit
from agenttasks.core.facts import TaskFacts
from agenttasks.core.queue import Candidate, Limits, Running, grant_order, order_key
from agenttasks.core.queue_view import (
    Z_80,
    QueueFacts,
    Rate,
    ReleaseLog,
    WaitingTask,
    build,
    estimate,
    grant_sequence,
    release_rate,
    waiting_of,
)

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
TEMPLATE = {"spec": {"containers": [{"name": "a", "image": "busybox"}]}}


def cand(name: str, priority: int = 0, age_s: int = 0, ns: str = "a",
         key: KeyLimit | None = None) -> Candidate:
    created = T0 - timedelta(seconds=age_s)
    return Candidate(ns, name, priority, created, created, key)


def task(status: AgentTaskStatus | None = None, **spec: Any) -> TaskFacts:
    return TaskFacts(namespace="ns", name="t", uid="u", generation=1, created=T0,
                     spec=AgentTaskSpec.model_validate({"template": TEMPLATE, **spec}),
                     status=status or AgentTaskStatus())


# --- what a task waits for --------------------------------------------------------------------


def test_a_new_or_queued_task_waits_in_the_queue() -> None:
    assert waiting_of(task(), {}, False, T0).wait == "queue"  # type: ignore[union-attr]
    queued = AgentTaskStatus(phase=Phase.PENDING, reason=Reason.QUEUED)
    assert waiting_of(task(queued), {}, False, T0).wait == "queue"  # type: ignore[union-attr]


def test_gates_in_the_lifecycle_order() -> None:
    later = T0 + timedelta(minutes=5)
    both = task(dependsOn=["a", "b"], startAfter=later.isoformat(), paused=True)
    got = waiting_of(both, {"a": Phase.COMPLETED, "b": Phase.IN_PROGRESS}, False, T0)
    assert got is not None and (got.wait, got.missing) == ("dependencies", ("b",))
    got = waiting_of(both, {"a": Phase.COMPLETED, "b": Phase.COMPLETED}, False, T0)
    assert got is not None and got.wait == "paused"
    timed = task(startAfter=later.isoformat())
    got = waiting_of(timed, {}, False, T0)
    assert got is not None and (got.wait, got.until) == ("startAfter", later)
    assert waiting_of(timed, {}, False, later).wait == "queue"  # type: ignore[union-attr]


def test_a_missing_dependency_is_waited_for() -> None:
    got = waiting_of(task(dependsOn=["later"]), {}, False, T0)
    assert got is not None and got.missing == ("later",)


def test_a_scheduled_retry_waits_out_its_delay() -> None:
    due = T0 + timedelta(seconds=30)
    status = AgentTaskStatus(phase=Phase.FAILED, reason=Reason.RETRY_SCHEDULED, attempts=1,
                             next_retry_time=due)
    got = waiting_of(task(status, dependsOn=["gone"]), {}, False, T0)  # deps gate attempt 1
    assert got is not None and (got.wait, got.until) == ("retryDelay", due)
    assert got.candidate.waiting_since == due  # aging counts from when the retry is due
    assert waiting_of(task(status), {}, False, due).wait == "queue"  # type: ignore[union-attr]


def test_running_terminal_or_cancelled_tasks_do_not_wait() -> None:
    assert waiting_of(task(), {}, True, T0) is None
    running = AgentTaskStatus(phase=Phase.IN_PROGRESS, reason=Reason.RUNNING, attempts=1)
    assert waiting_of(task(running), {}, False, T0) is None
    done = AgentTaskStatus(phase=Phase.COMPLETED, reason=Reason.SUCCEEDED, attempts=1)
    assert waiting_of(task(done), {}, False, T0) is None
    assert waiting_of(task(cancelled=True), {}, False, T0) is None


# --- the order --------------------------------------------------------------------------------


def test_full_queue_one_release_per_place() -> None:
    pool = [cand("lo", 1), cand("hi", 9), cand("mid", 5, age_s=10), cand("mid2", 5)]
    got = grant_sequence(pool, Running(2, {"a": 2}), Limits(2), T0)
    assert [(c.name, ahead) for c, ahead in got] == [("hi", 1), ("mid", 2), ("mid2", 3),
                                                     ("lo", 4)]


def test_free_slots_start_at_once() -> None:
    pool = [cand("x", 3), cand("y", 2), cand("z", 1)]
    got = grant_sequence(pool, Running(0, {}), Limits(2), T0)
    assert [(c.name, ahead) for c, ahead in got] == [("x", 0), ("y", 0), ("z", 1)]


def test_a_namespace_limit_holds_back_only_its_namespace() -> None:
    pool = [cand("a1", 9, ns="a"), cand("a2", 8, ns="a"), cand("b1", 1, ns="b")]
    got = grant_sequence(pool, Running(1, {"a": 1}), Limits(10, 1), T0)
    # b1 starts now; a1 needs a's running slot to free; slots free in the order they were
    # taken, so a2 waits for b1's release (which a does not use) and then a1's.
    assert [(c.name, ahead) for c, ahead in got] == [("b1", 0), ("a1", 1), ("a2", 3)]


def test_the_first_places_are_what_grant_order_grants_now() -> None:
    pool = [cand(f"t{i}", i % 4, age_s=i) for i in range(20)]
    first = grant_order(pool, Running(7, {"a": 7}), Limits(10), T0)
    got = grant_sequence(pool, Running(7, {"a": 7}), Limits(10), T0)
    assert [c for c, _ in got[:3]] == first


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 50), st.sampled_from("abc")),
                min_size=0, max_size=120),
       st.integers(1, 5), st.integers(0, 5), st.integers(0, 3))
def test_sequence_is_a_permutation_in_grant_order(
        specs: list[tuple[int, int, str]], limit: int, running: int, ns_limit: int) -> None:
    pool = [cand(f"t{i}", p, age, ns) for i, (p, age, ns) in enumerate(specs)]
    by_ns = {"a": running} if running else {}
    got = grant_sequence(pool, Running(running, by_ns), Limits(limit, ns_limit), T0)
    assert sorted(c.key for c, _ in got) == sorted(c.key for c in pool)
    aheads = [ahead for _, ahead in got]
    assert all(ahead >= 0 for ahead in aheads)
    assert aheads == sorted(aheads), "a later place never needs fewer releases"
    _in_order_within_each_namespace([c for c, _ in got])
    if not ns_limit and len({c.namespace for c in pool}) <= 1:
        # One namespace: the queue's own order alone, priority, age, name (across
        # namespaces the fair share interleaves them: core.queue).
        assert [c for c, _ in got] == sorted(pool, key=lambda c: order_key(c, T0, None))
        if len(pool) <= 100:
            free = limit - running  # below zero: more running than the limit allows
            assert aheads == [max(0, i + 1 - free) for i in range(len(pool))]


def test_a_held_concurrency_key_waits_for_its_holder() -> None:
    """The running task that holds key k (limit 1) must end before the next task with k
    starts, however many other slots are free; its release is the first counted."""
    k = KeyLimit("customer-7", "customer-7", 1)
    pool = [cand("k1", 9, key=k), cand("k2", 8, key=k), cand("plain", 1)]
    got = grant_sequence(pool, Running(2, {"a": 2}, {("a", k.label): 1}), Limits(10), T0)
    # plain starts now; k1 needs k's holder to end (release 1); k2 needs k1 to end, which
    # is freed after the other running slot and plain's (releases 2 to 4).
    assert [(c.name, ahead) for c, ahead in got] == [("plain", 0), ("k1", 1), ("k2", 4)]


def test_the_ledgers_turns_break_ties_between_namespaces() -> None:
    """Equal holdings: the namespace with the smaller turn goes first, as in the ledger."""
    pool = [cand("a1", ns="a"), cand("b1", ns="b")]
    fresh = grant_sequence(pool, Running(1, {"c": 1}), Limits(1), T0)
    assert [c.name for c, _ in fresh] == ["a1", "b1"]  # both at turn 0: by name
    after_a = grant_sequence(pool, Running(1, {"c": 1}), Limits(1), T0,
                             turns={"a": Fraction(1)})
    assert [c.name for c, _ in after_a] == ["b1", "a1"]


def test_far_places_keep_the_tasks_a_key_holds_back() -> None:
    """Beyond the exact places the limits are lifted, but a key's limit still holds its
    tasks back in the decision: they come last, and none is dropped from the view."""
    k = KeyLimit("api", "api", 1)
    pool = [cand(f"t{i}", age_s=i) for i in range(300)] + \
        [cand(f"k{i}", -1, age_s=9 - i, key=k) for i in range(3)]
    got = grant_sequence(pool, Running(10, {"a": 10}), Limits(10), T0)
    assert sorted(c.key for c, _ in got) == sorted(c.key for c in pool)
    assert [c.name for c, _ in got][-3:] == ["k0", "k1", "k2"]  # lowest priority, then age


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from("ab"), st.sampled_from("xy-")),
                min_size=0, max_size=80),
       st.integers(1, 5), st.integers(0, 3), st.integers(1, 2))
def test_sequence_with_keys_is_a_permutation(
        specs: list[tuple[int, str, str]], limit: int, held: int, key_limit: int) -> None:
    keys = {k: KeyLimit(k, k, key_limit) for k in "xy"}
    pool = [cand(f"t{i}", p, i, ns, keys.get(k)) for i, (p, ns, k) in enumerate(specs)]
    running = Running(held, {"a": held} if held else {}, {("a", "x"): held} if held else {})
    got = grant_sequence(pool, running, Limits(limit), T0)
    assert sorted(c.key for c, _ in got) == sorted(c.key for c in pool)
    aheads = [ahead for _, ahead in got]
    assert aheads == sorted(aheads), "a later place never needs fewer releases"
    if held >= key_limit:  # key x is full in a (keys count per namespace): none of a's
        # tasks with it starts before a release
        assert all(ahead > 0 for c, ahead in got
                   if c.concurrency == keys["x"] and c.namespace == "a")


def test_long_queue_is_cheap_enough() -> None:
    pool = [cand(f"t{i}", i % 5, age_s=i % 97, ns=f"n{i % 7}") for i in range(5000)]
    got = grant_sequence(pool, Running(10, {"n0": 10}), Limits(10), T0)
    assert len(got) == 5000 and got[-1][1] == 5000
    # Beyond the exact places, the order stays the decision's: priority, age, name within
    # each namespace, and the namespaces' fair share between them.
    _in_order_within_each_namespace([c for c, _ in got])
    # n0 holds every slot: each other namespace gets a freed slot before it does.
    assert {c.namespace for c, _ in got[:6]} == {f"n{i}" for i in range(1, 7)}


def _in_order_within_each_namespace(order: list[Candidate]) -> None:
    for namespace in {c.namespace for c in order}:
        mine = [c for c in order if c.namespace == namespace]
        assert mine == sorted(mine, key=lambda c: order_key(c, T0, None)), namespace


# --- rate and estimate ------------------------------------------------------------------------


def test_rate_over_the_window_since_observing_began() -> None:
    releases = [T0 - timedelta(seconds=s) for s in (1, 2, 3, 700)]
    # From the first release in the window: 2 more in the 3 s since it.
    assert release_rate(releases, T0, T0 - timedelta(hours=1)) == Rate(2, 3.0)
    assert release_rate(releases, T0, T0 - timedelta(seconds=2.5)) == Rate(1, 2.0)
    # One alone counts over the window (or the time observed): no rate from nothing.
    assert release_rate(releases[:1], T0, T0 - timedelta(seconds=60)) == Rate(1, 60.0)
    assert release_rate([], T0, T0 - timedelta(seconds=60)) == Rate(0, 60.0)


def test_estimate_is_position_over_rate_with_an_interval() -> None:
    rate = Rate(50, 100.0)  # one release every 2 s
    got = estimate(10, rate, T0)
    assert got is not None and got.start == T0 + timedelta(seconds=20)
    spread = Z_80 * math.sqrt(1 / 10 + 1 / 50)
    assert abs((got.latest - T0).total_seconds() - 20 * math.exp(spread)) < 1e-3
    assert abs((got.earliest - T0).total_seconds() - 20 * math.exp(-spread)) < 1e-3
    near, far = estimate(1, rate, T0), estimate(400, rate, T0)
    assert near is not None and far is not None
    width = [(e.latest - e.earliest) / (e.start - T0) for e in (near, far)]
    assert width[0] > width[1], "more releases ahead: relatively narrower"


def test_no_estimate_before_a_release_is_seen_but_free_slots_start_now() -> None:
    assert estimate(3, Rate(0, 60.0), T0) is None
    assert estimate(0, Rate(0, 60.0), T0) is not None


def test_a_timed_task_starts_no_earlier_than_its_time() -> None:
    later = T0 + timedelta(hours=1)
    got = estimate(2, Rate(60, 60.0), T0, not_before=later)
    assert got is not None and got.start == got.earliest == later


# --- the view ---------------------------------------------------------------------------------


def test_view_lists_queue_then_timed_then_blocked_with_reasons() -> None:
    later = T0 + timedelta(seconds=30)
    waiting = [WaitingTask(cand("q-low", 1), "queue"), WaitingTask(cand("q-high", 5), "queue"),
               WaitingTask(cand("dep", 9), "dependencies", missing=("q-low",)),
               WaitingTask(cand("soon", 9), "startAfter", until=later),
               WaitingTask(cand("off"), "paused")]
    releases = [T0 - timedelta(seconds=s) for s in range(10)]  # 10 in the last 10 s
    view = build(QueueFacts(waiting, Running(2, {"a": 2}), Limits(2), releases,
                            T0 - timedelta(seconds=10), T0))
    assert [(e.name, e.reason, e.position) for e in view.entries] == [
        ("q-high", "GlobalLimit", 1), ("q-low", "GlobalLimit", 2), ("soon", "StartAfter", None),
        ("dep", "Dependencies", None), ("off", "Paused", None)]
    first, soon = view.entries[0], view.entries[2]
    assert first.eta is not None and first.eta.start == T0 + timedelta(seconds=1)
    assert "2/2 running" in first.message and first.namespace_position == 1
    # Priority 9 would go first once ready, but not before its startAfter.
    assert soon.ahead == 1 and soon.eta is not None and soon.eta.start == later
    assert view.entries[3].eta is None and "q-low" in view.entries[3].message
    assert view.queued == 2 and view.by_namespace == {"a": 2}
    assert view.visible(frozenset({"b"})) == []


def test_namespace_limit_is_named() -> None:
    waiting = [WaitingTask(cand("x", ns="a"), "queue"), WaitingTask(cand("y", ns="b"), "queue")]
    view = build(QueueFacts(waiting, Running(1, {"a": 1}), Limits(10, 1), [], T0, T0))
    reasons = {e.name: (e.reason, e.eta) for e in view.entries}
    assert reasons["x"] == ("NamespaceLimit", None)  # no release seen: no estimate
    assert reasons["y"][0] == "Starting" and reasons["y"][1] is not None


def test_release_log_is_bounded() -> None:
    log = ReleaseLog(T0, keep=3)
    log.record(T0, 2)
    log.record(T0 + timedelta(seconds=1), 2)
    assert log.times() == [T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=1)]
