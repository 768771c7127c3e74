"""Per-key token buckets: ``per_minute`` requests a minute, in bursts of up to ``per_minute``.

Pure over an explicit ``now`` in monotonic seconds; the caller owns the clock and the lock.
The keys are held in a BoundedMap: when callers choose the keys (client addresses, say),
the memory stays bounded whatever they send.
"""

from __future__ import annotations

from dataclasses import dataclass

from agenttasks.core.bounded import BoundedMap

MAX_KEYS = 65536


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
    """One bucket per key (a trigger, say). A new or forgotten key starts with a full bucket.

    Beyond ``capacity`` keys, the key least recently taken from is forgotten: it starts full
    again, as a new key would, so a caller with more keys than that gets no more than one
    with as many new keys.
    """

    def __init__(self, capacity: int = MAX_KEYS) -> None:
        self._buckets: BoundedMap[str, _Bucket] = BoundedMap(capacity)

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
            self._buckets.put(key, _Bucket(tokens - 1.0, now, per_minute))
            return None
        self._buckets.put(key, _Bucket(tokens, now, per_minute))
        return (1.0 - tokens) * 60.0 / per_minute

    def prune(self, now: float) -> int:
        """Forget buckets that are full again, and return how many were forgotten.

        Lossless: a forgotten key would start full anyway. Calling this now and then keeps
        memory to the keys seen within about the last minute.
        """
        full = [key for key in self._buckets if _full(self._buckets.get(key), now)]
        for key in full:
            self._buckets.pop(key)
        return len(full)

    def __len__(self) -> int:
        return len(self._buckets)


def _full(bucket: _Bucket | None, now: float) -> bool:
    return bucket is not None and bucket.refill(now) >= bucket.per_minute
