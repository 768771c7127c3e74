from datetime import timedelta

import pytest

from agenttasks.api.task import RetryPolicy
from agenttasks.core.backoff import retry_delay


def test_exponential_then_capped() -> None:
    policy = RetryPolicy(limit=10, delay="10s", backoff_factor=2, max_delay="1m")
    delays = [retry_delay(policy, n).total_seconds() for n in range(1, 6)]
    assert delays == [10, 20, 40, 60, 60]


def test_factor_one_is_constant() -> None:
    policy = RetryPolicy(limit=3, delay=7, backoff_factor=1)
    assert {retry_delay(policy, n) for n in (1, 2, 3)} == {timedelta(seconds=7)}


def test_defaults() -> None:
    policy = RetryPolicy()
    assert (policy.limit, policy.delay, policy.backoff_factor, policy.max_delay) == (
        0, timedelta(seconds=10), 2.0, timedelta(minutes=10))


def test_retry_numbers_start_at_one() -> None:
    with pytest.raises(ValueError):
        retry_delay(RetryPolicy(), 0)
