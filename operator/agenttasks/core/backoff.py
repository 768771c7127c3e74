"""Delay before a retry, as the Job controller computes pod backoff: exponential and capped."""

from __future__ import annotations

from datetime import timedelta

from agenttasks.api.task import RetryPolicy


def retry_delay(policy: RetryPolicy, retry_number: int) -> timedelta:
    """The wait before retry ``retry_number`` (1 for the first retry)."""
    if retry_number < 1:
        raise ValueError("retry_number starts at 1")
    seconds = policy.delay.total_seconds() * policy.backoff_factor ** (retry_number - 1)
    return min(timedelta(seconds=seconds), policy.max_delay)
