import math

import pytest

from agenttasks.core.ratelimit import TokenBuckets


def test_burst_then_refused_with_retry_after() -> None:
    buckets = TokenBuckets()
    assert [buckets.take("t", 3, now=100.0) for _ in range(3)] == [None, None, None]
    wait = buckets.take("t", 3, now=100.0)
    assert wait == pytest.approx(20.0)  # 3 a minute: one token every 20 s
    assert wait is not None and math.ceil(wait) == 20


def test_refill_over_time() -> None:
    buckets = TokenBuckets()
    for _ in range(60):
        assert buckets.take("t", 60, now=0.0) is None
    wait = buckets.take("t", 60, now=0.5)
    assert wait == pytest.approx(0.5)
    assert wait is not None and math.ceil(wait) == 1  # the Retry-After the caller sends
    assert buckets.take("t", 60, now=1.0) is None
    assert buckets.take("t", 60, now=1.0) is not None


def test_refusal_does_not_consume() -> None:
    buckets = TokenBuckets()
    assert buckets.take("t", 1, now=0.0) is None
    assert buckets.take("t", 1, now=30.0) == pytest.approx(30.0)
    assert buckets.take("t", 1, now=45.0) == pytest.approx(15.0)
    assert buckets.take("t", 1, now=60.0) is None


def test_refill_is_capped_at_the_burst() -> None:
    buckets = TokenBuckets()
    assert buckets.take("t", 2, now=0.0) is None
    # An hour idle still allows only a burst of 2.
    results = [buckets.take("t", 2, now=3600.0) for _ in range(3)]
    assert results[:2] == [None, None] and results[2] is not None


def test_keys_are_independent() -> None:
    buckets = TokenBuckets()
    assert buckets.take("a", 1, now=0.0) is None
    assert buckets.take("a", 1, now=0.0) is not None
    assert buckets.take("b", 1, now=0.0) is None


def test_lowered_rate_applies_at_once() -> None:
    buckets = TokenBuckets()
    assert buckets.take("t", 100, now=0.0) is None
    assert buckets.take("t", 1, now=0.0) is None  # the burst shrank to 1 and this took it
    assert buckets.take("t", 1, now=0.0) == pytest.approx(60.0)


def test_clock_stepping_back_does_not_drain() -> None:
    buckets = TokenBuckets()
    assert buckets.take("t", 2, now=50.0) is None
    assert buckets.take("t", 2, now=10.0) is None
    assert buckets.take("t", 2, now=10.0) is not None


def test_prune_forgets_only_full_buckets() -> None:
    buckets = TokenBuckets()
    buckets.take("busy", 60, now=0.0)
    buckets.take("idle", 60, now=0.0)
    assert len(buckets) == 2
    assert buckets.prune(now=0.5) == 0
    buckets.take("busy", 60, now=0.9)
    assert buckets.prune(now=1.0) == 1  # "idle" is full again, "busy" is not
    assert len(buckets) == 1
    assert buckets.prune(now=2.0) == 1
    assert len(buckets) == 0


def test_prune_is_lossless() -> None:
    kept, pruned = TokenBuckets(), TokenBuckets()
    for buckets in (kept, pruned):
        for _ in range(5):
            buckets.take("t", 5, now=0.0)
    pruned.prune(now=120.0)
    assert len(pruned) == 0
    assert [kept.take("t", 5, now=120.0) for _ in range(6)] == [
        pruned.take("t", 5, now=120.0) for _ in range(6)]


@pytest.mark.parametrize("per_minute", [0, -1])
def test_rate_must_be_positive(per_minute: int) -> None:
    with pytest.raises(ValueError):
        TokenBuckets().take("t", per_minute, now=0.0)


def test_keys_are_bounded_and_the_least_recently_used_is_forgotten() -> None:
    buckets = TokenBuckets(capacity=3)
    for key in ("a", "b", "c"):
        assert buckets.take(key, 1, now=0.0) is None
    assert buckets.take("a", 1, now=0.0) is not None  # "a" is now the most recent
    assert buckets.take("d", 1, now=0.0) is None  # forgets "b", the least recent
    assert len(buckets) == 3
    assert buckets.take("c", 1, now=0.0) is not None  # "c" was kept, still empty
    assert buckets.take("b", 1, now=0.0) is None  # forgotten: starts full, like a new key
    assert len(buckets) == 3
