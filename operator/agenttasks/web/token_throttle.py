"""How many TokenReviews of new tokens the dashboard may send: a token bucket per client
address, and a cap on the reviews in flight at once.

Every bearer token the operator has not seen costs a TokenReview, so without a limit anyone
who reaches the port could make it send one per request. The address is the TCP peer
(``request.remote``), never X-Forwarded-For, which the caller writes. Behind a
port-forward or a proxy, every user shares the proxy's address, hence a generous budget:
only tokens not already in the Gate's cache spend it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from agenttasks.core.ratelimit import TokenBuckets

PER_ADDRESS_PER_MINUTE = 60  # new tokens a minute from one address, in bursts of as many
MAX_IN_FLIGHT = 16  # TokenReviews waiting for the API server at once, every address together
MAX_ADDRESSES = 4096  # addresses remembered; a forgotten one starts with a full bucket
IN_FLIGHT_RETRY_S = 1.0  # reviews take milliseconds: the crowd is gone by then
PRUNE_EVERY_S = 60.0


class TokenReviewThrottle:
    """``refusal(address)`` before a review of a new token, then ``sending()`` around it."""

    def __init__(self, per_minute: int = PER_ADDRESS_PER_MINUTE,
                 max_in_flight: int = MAX_IN_FLIGHT, max_addresses: int = MAX_ADDRESSES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1 or max_in_flight < 1:
            raise ValueError("a throttle lets at least one review through")
        self.per_minute, self.max_in_flight, self.clock = per_minute, max_in_flight, clock
        self.buckets = TokenBuckets(capacity=max_addresses)
        self.in_flight = 0
        self._pruned_at = clock()

    def refusal(self, address: str) -> float | None:
        """None when a review for ``address`` may be sent now (one of its tokens is taken),
        else the seconds to wait. The in-flight cap is looked at first, so that a refusal
        for it spends nothing from the address's bucket."""
        if self.in_flight >= self.max_in_flight:
            return IN_FLIGHT_RETRY_S
        now = self.clock()
        if now - self._pruned_at >= PRUNE_EVERY_S:  # full buckets are as good as forgotten
            self.buckets.prune(now)
            self._pruned_at = now
        return self.buckets.take(address, self.per_minute, now)

    @contextmanager
    def sending(self) -> Iterator[None]:
        """Counts a review in flight while the block runs."""
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
