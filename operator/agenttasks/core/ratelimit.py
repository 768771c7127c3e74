"""Per-key token buckets: ``per_minute`` requests a minute, in bursts of up to ``per_minute``.

Pure over an explicit ``now`` in monotonic seconds; the caller owns the clock and the lock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated_at: float
    per_minute: int

    def refill(self, now: float) -> float:
        """Tokens available at ``now``, capped at the burst size."""
        # max(): a clock that steps back must not drain the bucket.
        elapsed = max(0.0, now - self.updated_at)
        return min(float(self.per_minute), self.tokens + elapsed * self.per_minute / 60.0)


class TokenBuckets:
    """One bucket per key (a trigger, say). A new or forgotten key starts with a full bucket."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, per_minute: int, now: float) -> float | None:
        """Take a token for ``key``: None when allowed, else seconds until one is available.

        The wait is fractional; round it up for a Retry-After header. A changed ``per_minute``
        applies from this call on, and the burst shrinks to it at once.
        """
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        bucket = self._buckets.get(key)
        tokens = float(per_minute) if bucket is None else bucket.refill(now)
        tokens = min(tokens, float(per_minute))
        if tokens >= 1.0:
            self._buckets[key] = _Bucket(tokens - 1.0, now, per_minute)
            return None
        self._buckets[key] = _Bucket(tokens, now, per_minute)
        return (1.0 - tokens) * 60.0 / per_minute

    def prune(self, now: float) -> int:
        """Forget buckets that are full again, and return how many were forgotten.

        Lossless: a forgotten key would start full anyway. Calling this now and then keeps
        memory to the keys seen within about the last minute.
        """
        full = [key for key, bucket in self._buckets.items()
                if bucket.refill(now) >= bucket.per_minute]
        for key in full:
            del self._buckets[key]
        return len(full)

    def __len__(self) -> int:
        return len(self._buckets)
