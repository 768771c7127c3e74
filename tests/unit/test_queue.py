"""Grant order and limits (core.queue.grant_order), and priority aging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agenttasks.core.queue import Aging, Candidate, Limits, Running, grant_order, wait_message

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def cand(name: str, priority: int = 0, age_s: int = 0, ns: str = "a",
         waited_s: int | None = None) -> Candidate:
    created = T0 - timedelta(seconds=age_s)
    since = T0 - timedelta(seconds=waited_s if waited_s is not None else age_s)
    return Candidate(ns, name, priority, created, since)


def names(admitted: list[Candidate]) -> list[str]:
    return [c.name for c in admitted]


IDLE = Running(0, {})


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
    assert names(got) == ["a1", "b1"]


def test_never_lower_priority_while_higher_waits_for_same_capacity() -> None:
    pool = [cand("hi", 10, ns="a"), cand("lo", 1, ns="b")]
    # One global slot: the higher priority takes it; the lower does not jump ahead.
    assert names(grant_order(pool, Running(9, {"c": 9}), Limits(10), T0)) == ["hi"]


def test_aging_lifts_a_starving_task() -> None:
    aging = Aging.parse("1/5m")
    starving = cand("old-low", 0, age_s=3600, waited_s=3600)  # 12 steps of waiting
    fresh = cand("new-high", 10, age_s=1, waited_s=1)
    granted = grant_order([fresh, starving], Running(9, {}), Limits(10), T0, aging)
    assert names(granted) == ["old-low"]
    assert names(grant_order([fresh, starving], Running(9, {}), Limits(10), T0)) == ["new-high"]


@pytest.mark.parametrize("bad", ["5m", "0/5m", "1/0s", "x/5m", "1/"])
def test_aging_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        Aging.parse(bad)


def test_wait_messages() -> None:
    assert wait_message("a", Running(10, {"a": 3}), Limits(10)) == \
        "waiting for capacity: 10/10 running"
    assert wait_message("a", Running(3, {"a": 2}), Limits(10, 2)) == \
        "waiting for capacity in namespace a: 2/2 running"
