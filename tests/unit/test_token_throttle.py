"""The TokenReview throttle on its own: a bucket per address, a cap in flight, bounded maps."""

from __future__ import annotations

import pytest

from agenttasks.web.token_throttle import (
    IN_FLIGHT_RETRY_S,
    PRUNE_EVERY_S,
    TokenReviewThrottle,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_address_has_its_own_budget() -> None:
    throttle = TokenReviewThrottle(per_minute=3, clock=Clock())
    assert [throttle.refusal("10.0.0.1") for _ in range(3)] == [None, None, None]
    wait = throttle.refusal("10.0.0.1")
    assert wait == pytest.approx(20.0)  # 3 a minute: the next in 20 s
    assert throttle.refusal("10.0.0.2") is None


def test_the_budget_refills() -> None:
    clock = Clock()
    throttle = TokenReviewThrottle(per_minute=60, clock=clock)
    for _ in range(60):
        assert throttle.refusal("a") is None
    assert throttle.refusal("a") is not None
    clock.now += 1.0
    assert throttle.refusal("a") is None


def test_the_cap_in_flight_counts_every_address_and_spends_nothing() -> None:
    throttle = TokenReviewThrottle(per_minute=2, max_in_flight=2, clock=Clock())
    with throttle.sending(), throttle.sending():
        assert throttle.in_flight == 2
        assert throttle.refusal("a") == IN_FLIGHT_RETRY_S
        assert throttle.refusal("b") == IN_FLIGHT_RETRY_S
    assert throttle.in_flight == 0
    assert [throttle.refusal("a") for _ in range(3)] == [None, None, pytest.approx(30.0)]


def test_sending_is_uncounted_even_when_the_review_fails() -> None:
    throttle = TokenReviewThrottle()
    with pytest.raises(ConnectionError), throttle.sending():
        raise ConnectionError("api server down")
    assert throttle.in_flight == 0


def test_the_address_map_fills_to_its_bound_and_drains() -> None:
    clock = Clock()
    throttle = TokenReviewThrottle(per_minute=5, max_addresses=100, clock=clock)
    for i in range(10_000):  # a flood from many addresses
        throttle.refusal(f"10.{i // 256}.{i % 256}.1")
    assert len(throttle.buckets) == 100
    clock.now += PRUNE_EVERY_S  # every bucket is full again: forgotten at the next look
    assert throttle.refusal("10.9.9.9") is None
    assert len(throttle.buckets) == 1


def test_limits_must_let_something_through() -> None:
    with pytest.raises(ValueError):
        TokenReviewThrottle(per_minute=0)
    with pytest.raises(ValueError):
        TokenReviewThrottle(max_in_flight=0)
