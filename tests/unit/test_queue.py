"""Grant order and limits (core.queue): priority and aging within a namespace, fair share
and turns between namespaces, concurrency keys; the plan and its reasons. Examples first,
then properties over random queues."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agenttasks.core.concurrency import KeyLimit, key_label
from agenttasks.core.queue import (
    Aging,
    Candidate,
    Limits,
    Running,
    WaitsFor,
    grant_order,
    order_key,
    queue_plan,
    wait_message,
    wait_reasons,
)

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def cand(name: str, priority: int = 0, age_s: int = 0, ns: str = "a",
         waited_s: int | None = None, key: str | None = None, limit: int = 1) -> Candidate:
    created = T0 - timedelta(seconds=age_s)
    since = T0 - timedelta(seconds=waited_s if waited_s is not None else age_s)
    held = KeyLimit(key, key_label(key), limit) if key else None
    return Candidate(ns, name, priority, created, since, held)


def names(admitted: list[Candidate]) -> list[str]:
    return [c.name for c in admitted]


IDLE = Running(0, {})


# --- within a namespace: priority, age, name, aging -----------------------------------------

def test_priority_then_age_then_name() -> None:
    pool = [cand("low", 1, 100), cand("high", 5, 1), cand("b", 3, 10), cand("a", 3, 10),
            cand("older", 3, 50)]
    assert names(grant_order(pool, IDLE, Limits(0), T0)) == ["high", "older", "a", "b", "low"]


def test_global_limit_counts_running() -> None:
    pool = [cand("x", 1), cand("y", 2), cand("z", 3)]
    assert names(grant_order(pool, Running(8, {"a": 8}), Limits(10), T0)) == ["z", "y"]
    assert grant_order(pool, Running(10, {"a": 10}), Limits(10), T0) == []


def test_zero_means_unlimited() -> None:
    pool = [cand(str(i)) for i in range(50)]
    assert len(grant_order(pool, Running(1000, {"a": 1000}), Limits(0), T0)) == 50


def test_per_namespace_limit_skips_only_that_namespace() -> None:
    pool = [cand("a1", 9, ns="a"), cand("a2", 8, ns="a"), cand("b1", 1, ns="b")]
    got = grant_order(pool, Running(1, {"a": 1}), Limits(10, 2), T0)
    assert sorted(names(got)) == ["a1", "b1"]


def test_aging_lifts_a_starving_task() -> None:
    aging = Aging.parse("1/5m")
    starving = cand("old-low", 0, age_s=3600, waited_s=3600)  # 12 steps of waiting
    fresh = cand("new-high", 10, age_s=1, waited_s=1)
    granted = grant_order([fresh, starving], Running(9, {}), Limits(10), T0, aging)
    assert names(granted) == ["old-low"]
    assert names(grant_order([fresh, starving], Running(9, {}), Limits(10), T0)) == ["new-high"]


def test_aging_orders_within_a_namespace_under_fair_share() -> None:
    """Aging still lifts a starving task above its namespace's fresh high-priority ones;
    it does not move the namespace ahead of another (only the share does)."""
    aging = Aging.parse("1/5m")
    pool = [cand("a-new-high", 10, age_s=1, ns="a"), cand("a-old-low", 0, age_s=3600, ns="a"),
            cand("b-one", 0, age_s=1, ns="b")]
    granted = grant_order(pool, Running(2, {"a": 1, "b": 0}), Limits(4), T0, aging)
    assert names(granted) == ["b-one", "a-old-low"]


@pytest.mark.parametrize("bad", ["5m", "0/5m", "1/0s", "x/5m", "1/"])
def test_aging_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        Aging.parse(bad)


# --- between namespaces: the share, the turns ------------------------------------------------

def test_namespaces_with_waiting_work_share_the_slots_round_robin() -> None:
    pool = [cand(f"big{i}", ns="big", age_s=1000 - i) for i in range(200)] + \
        [cand(f"small{i}", ns="small") for i in range(5)]
    granted = grant_order(pool, IDLE, Limits(4), T0)
    assert Counter(c.namespace for c in granted) == {"big": 2, "small": 2}


def test_priority_does_not_count_across_namespaces() -> None:
    """A team that raises its priorities gets no more than its share."""
    pool = [cand(f"loud{i}", 1_000_000, ns="loud") for i in range(10)] + \
        [cand(f"quiet{i}", -5, ns="quiet") for i in range(10)]
    granted = grant_order(pool, IDLE, Limits(6), T0)
    assert Counter(c.namespace for c in granted) == {"loud": 3, "quiet": 3}


def test_a_freed_slot_goes_to_the_namespace_holding_fewest_per_weight() -> None:
    pool = [cand("a1", ns="a"), cand("b1", ns="b")]
    # a holds 3 of 4 from before b had work; the slot b's task freed goes to b again.
    assert names(grant_order(pool, Running(3, {"a": 3}), Limits(4), T0)) == ["b1"]
    assert names(grant_order(pool, Running(3, {"a": 1, "b": 2}), Limits(4), T0)) == ["a1"]


def test_weights_split_the_slots() -> None:
    """The worked example of docs/queue.md: 10 slots, team-a weight 3, b and c weight 1."""
    pool = [cand(f"{ns}{i:02}", 1000 if ns == "team-b" else 0, ns=ns)
            for ns in ("team-a", "team-b", "team-c") for i in range(20)]
    limits = Limits(10, namespace_weights={"team-a": 3})
    granted = grant_order(pool, IDLE, limits, T0)
    assert [c.namespace[-1] for c in granted] == list("abcaaabcaa")  # the doc's table
    assert Counter(c.namespace for c in granted) == {"team-a": 6, "team-b": 2, "team-c": 2}
    waiting = cand("b-late", ns="team-b")
    assert wait_message(waiting, Running(10, {"team-a": 6, "team-b": 2, "team-c": 2}), limits,
                        {"team-a", "team-b", "team-c"}) == \
        "waiting for its namespace's share: team-b holds 2 of 10 slots, its share is 2 " \
        "(weight 1 of 5 among the namespaces waiting)"
    keyed = [replace(c, concurrency=KeyLimit("openai-key", "openai-key", 3))
             if c.namespace == "team-a" else c for c in pool]
    assert Counter(c.namespace for c in grant_order(keyed, IDLE, limits, T0)) == \
        {"team-a": 3, "team-b": 4, "team-c": 3}
    # team-c's task ends: the freed slot is team-c's (2/1 held by b, 5/3 by a, 1/1 by c).
    running = Running(9, {"team-a": 6, "team-b": 2, "team-c": 1})
    assert [c.namespace for c in grant_order(pool, running, limits, T0)] == ["team-c"]
    # team-a's task ends instead: 5/3 < 2/1, team-a's.
    running = Running(9, {"team-a": 5, "team-b": 2, "team-c": 2})
    assert [c.namespace for c in grant_order(pool, running, limits, T0)] == ["team-a"]


def test_turns_break_ties_so_one_slot_goes_round() -> None:
    """At one slot every namespace holds 0 when it frees: the turns decide, weighted."""
    pool = [cand(f"{ns}{i}", ns=ns) for ns in ("a", "b") for i in range(3)]
    first = grant_order(pool, IDLE, Limits(1), T0)
    assert names(first) == ["a0"]  # equal turns: by name
    after = grant_order(pool, IDLE, Limits(1), T0, turns={"a": Fraction(1)})
    assert names(after) == ["b0"]


def test_unlimited_grants_everyone_in_fair_order() -> None:
    pool = [cand(f"a{i}", ns="a") for i in range(3)] + [cand("b0", ns="b")]
    assert names(grant_order(pool, IDLE, Limits(0), T0)) == ["a0", "b0", "a1", "a2"]


# --- concurrency keys ---------------------------------------------------------------------

def test_a_key_at_its_limit_skips_its_tasks_only() -> None:
    pool = [cand("k1", 9, key="openai"), cand("k2", 8, key="openai"), cand("free", 0)]
    running = Running(1, {"a": 1}, {("a", "openai"): 1})
    assert names(grant_order(pool, running, Limits(10), T0)) == ["free"]
    assert names(grant_order(pool, IDLE, Limits(10), T0)) == ["k1", "free"]


def test_a_key_with_limit_two() -> None:
    pool = [cand(f"k{i}", key="api", limit=2) for i in range(5)]
    assert names(grant_order(pool, IDLE, Limits(10), T0)) == ["k0", "k1"]


def test_keys_are_per_namespace() -> None:
    pool = [cand("a1", ns="a", key="customer-1"), cand("b1", ns="b", key="customer-1")]
    running = Running(1, {"a": 1}, {("a", "customer-1"): 1})
    assert names(grant_order(pool, running, Limits(10), T0)) == ["b1"]


def test_a_key_that_is_no_label_value_counts_by_its_hash() -> None:
    key = "customer: ACME Corp / EU"
    label = key_label(key)
    assert label.startswith("sha256.") and len(label) <= 63 and label == key_label(key)
    assert key_label("customer-1") == "customer-1"
    assert key_label("sha256.deadbeef") != "sha256.deadbeef", "no key poses as a hash"
    assert key_label("x" * 64).startswith("sha256.")
    pool = [cand("t", key=key)]
    running = Running(1, {"a": 1}, {("a", label): 1})
    assert grant_order(pool, running, Limits(10), T0) == []


# --- reasons and the plan -------------------------------------------------------------------

def test_wait_messages() -> None:
    assert wait_message(cand("t"), Running(10, {"a": 3}), Limits(10)) == \
        "waiting for capacity: 10/10 running"
    assert wait_message(cand("t"), Running(3, {"a": 2}), Limits(10, 2)) == \
        "waiting for capacity in namespace a: 2/2 running"
    assert wait_message(cand("t", key="openai", limit=3), Running(3, {"a": 3},
                                                                {("a", "openai"): 3}),
                        Limits(10)) == 'waiting for concurrency key "openai": 3/3 running'
    share = wait_message(cand("t"), Running(4, {"a": 3, "b": 1}), Limits(4), {"a", "b"})
    assert share == "waiting for its namespace's share: a holds 3 of 4 slots, its share is 2 " \
        "(weight 1 of 2 among the namespaces waiting)"


def test_a_namespace_below_its_share_waits_for_capacity() -> None:
    running = Running(4, {"a": 1, "idle": 3})
    assert wait_reasons(cand("t"), running, Limits(4), {"a", "b"}) == (WaitsFor.CAPACITY,)
    assert wait_reasons(cand("t", ns="b"), running, Limits(4), {"a", "b"}) == \
        (WaitsFor.CAPACITY,)
    # alone with waiting work, it waits for capacity whatever it holds
    assert wait_reasons(cand("t"), Running(4, {"a": 4}), Limits(4), {"a"}) == \
        (WaitsFor.CAPACITY,)


def test_every_reason_that_holds_is_named_strongest_first() -> None:
    running = Running(4, {"a": 4}, {("a", "k"): 1})
    reasons = wait_reasons(cand("t", key="k"), running, Limits(4, 4), {"a", "b"})
    assert reasons == (WaitsFor.NAMESPACE_LIMIT, WaitsFor.CONCURRENCY_KEY,
                       WaitsFor.NAMESPACE_SHARE)


def test_the_plan_puts_grants_first_then_the_predicted_order_then_the_blocked() -> None:
    pool = [cand("a0", ns="a", key="k"), cand("a1", ns="a", key="k"), cand("a2", 5, ns="a"),
            cand("b0", ns="b"), cand("b1", ns="b")]
    plan = queue_plan(pool, Running(3, {"a": 2, "b": 1}, {("a", "k"): 1}), Limits(4), T0)
    assert [(p.position, p.candidate.name, p.granted) for p in plan] == [
        (1, "b0", True), (2, "a2", False), (3, "b1", False), (4, "a0", False),
        (5, "a1", False)]
    assert plan[1].waits_for == (WaitsFor.NAMESPACE_SHARE,)  # a holds 2 of 4 once b0 runs
    assert plan[3].waits_for[0] == WaitsFor.CONCURRENCY_KEY
    assert plan[3].message.startswith('waiting for concurrency key "k": 1/1 running')
    assert names(grant_order(pool, Running(3, {"a": 2, "b": 1}, {("a", "k"): 1}), Limits(4),
                             T0)) == ["b0"]


def test_the_plan_says_when_only_tasks_ahead_block_a_key() -> None:
    pool = [cand("k0", 1, key="k"), cand("k1", key="k")]
    plan = queue_plan(pool, Running(4, {"x": 4}), Limits(4), T0)
    assert [p.candidate.name for p in plan] == ["k0", "k1"]
    assert plan[1].waits_for == (WaitsFor.CONCURRENCY_KEY, WaitsFor.CAPACITY)
    assert plan[1].message == 'waiting for concurrency key "k": 0/1 running, and tasks ' \
        "ahead of it in the queue have that key"


# --- properties -----------------------------------------------------------------------------

NAMESPACES = ["a", "b", "c"]
KEYS: list[tuple[str | None, int]] = [(None, 0), ("k1", 1), ("k2", 2)]

queues = st.lists(st.tuples(st.sampled_from(NAMESPACES), st.integers(-3, 3),
                            st.integers(0, 5), st.sampled_from(KEYS)), max_size=30)
holdings = st.dictionaries(st.sampled_from(NAMESPACES), st.integers(0, 4), max_size=3)
key_holdings = st.dictionaries(st.tuples(st.sampled_from(NAMESPACES),
                                         st.sampled_from(["k1", "k2"])), st.integers(0, 2))


def _pool(spec: list[tuple[str, int, int, tuple[str | None, int]]]) -> list[Candidate]:
    return [cand(f"t{i}", prio, age, ns, key=key, limit=limit)
            for i, (ns, prio, age, (key, limit)) in enumerate(spec)]


@settings(max_examples=400, deadline=None)
@given(spec=queues, held=holdings, held_keys=key_holdings, limit=st.integers(0, 8),
       per_ns=st.integers(0, 3), weights=st.dictionaries(st.sampled_from(NAMESPACES),
                                                         st.integers(1, 3)),
       turns=st.dictionaries(st.sampled_from(NAMESPACES), st.integers(0, 3)))
def test_a_pass_respects_every_limit_and_starves_no_namespace(
        spec: list[tuple[str, int, int, tuple[str | None, int]]], held: dict[str, int],
        held_keys: dict[tuple[str, str], int], limit: int, per_ns: int,
        weights: dict[str, int], turns: dict[str, int]) -> None:
    """Whatever the queue and the slots held: never more than --max-running, the
    namespace's limit or a key's limit (a key already over its limit gets none); the pass
    stops early only when every task left is skipped; no namespace is granted a slot while
    another, with a task it could grant, held fewer per weight; within a namespace a task
    granted never comes after one left waiting that could have had the slot."""
    pool = _pool(spec)
    held_keys = {k: v for k, v in held_keys.items() if v <= held.get(k[0], 0)}
    running = Running(sum(held.values()), held, held_keys)
    limits = Limits(limit, per_ns, weights)
    granted = grant_order(pool, running, limits, T0,
                          turns={ns: Fraction(t) for ns, t in turns.items()})
    assert len({c.key for c in granted}) == len(granted)
    free = max(0, limit - running.total) if limit else len(pool)
    assert len(granted) <= free

    per_ns_now = Counter(held) + Counter(c.namespace for c in granted)
    per_key_now = Counter(held_keys) + Counter(
        (c.namespace, c.concurrency.label) for c in granted if c.concurrency)
    for c in granted:
        assert not per_ns or per_ns_now[c.namespace] <= per_ns
        if c.concurrency:
            assert per_key_now[(c.namespace, c.concurrency.label)] <= c.concurrency.limit
            assert held_keys.get((c.namespace, c.concurrency.label), 0) < c.concurrency.limit

    def skipped(c: Candidate) -> bool:
        ns_full = bool(per_ns) and per_ns_now[c.namespace] >= per_ns
        key_full = c.concurrency is not None and \
            per_key_now[(c.namespace, c.concurrency.label)] >= c.concurrency.limit
        return ns_full or key_full

    left = [c for c in pool if c not in granted and not skipped(c)]
    if len(granted) < free:
        assert not left, "the pass stopped with a grantable task left"
    for w in left:  # a task that could have had a slot at any moment of the pass
        for g in granted:
            if g.namespace == w.namespace:
                assert order_key(g, T0, None) < order_key(w, T0, None), (g, w)
            else:
                before = Fraction(per_ns_now[g.namespace] - 1, limits.weight(g.namespace))
                assert before <= Fraction(per_ns_now[w.namespace], limits.weight(w.namespace))


@settings(max_examples=200, deadline=None)
@given(spec=queues, held=holdings, limit=st.integers(0, 6))
def test_the_order_does_not_depend_on_the_order_of_the_input(
        spec: list[tuple[str, int, int, tuple[str | None, int]]], held: dict[str, int],
        limit: int) -> None:
    pool = _pool(spec)
    running = Running(sum(held.values()), held)
    plan = queue_plan(pool, running, Limits(limit), T0)
    again = queue_plan(list(reversed(pool)), running, Limits(limit), T0)
    assert [p.candidate for p in plan] == [p.candidate for p in again]
    assert sorted(p.candidate.key for p in plan) == sorted(c.key for c in pool)
    assert [p.candidate for p in plan if p.granted] == grant_order(pool, running, Limits(limit),
                                                                   T0)
    assert [p.position for p in plan] == list(range(1, len(pool) + 1))
    assert all(bool(p.waits_for) != p.granted for p in plan)
