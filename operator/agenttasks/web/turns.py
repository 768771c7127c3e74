"""Turns for webhook deliveries: the bodies being received and processed at once are bounded
in bytes and in number, and a bounded number of deliveries wait, in order of arrival.

What a running delivery holds is its body (up to 1 MiB, MAX_PAYLOAD_BYTES) and one API
request. So each reserves its declared Content-Length, the largest size when it declares
none, and at least MIN_RESERVATION (64 KiB: its headers, the task it builds and the request
it sends); together they may reserve BUDGET (32 MiB: 32 deliveries of the largest size, or
512 of the usual few KiB). Counting every delivery as 1 MiB, as the first version did, held
64 at once: at 200 deliveries a second on a busy API server, whose creates took a second or
more, that refused hundreds that direct writes to the same API server took (the webhook
benchmark of issue 18).

Refusing the next one at once would turn a short burst into 503s that senders like GitHub do
not retry; letting every one wait would let a flood hold unbounded connections. So a few
may wait, for a few seconds, before a turn; a waiting delivery has not read its body yet,
so it holds a connection and nothing more. Turns go in order of arrival: a large body
waiting at the head is not passed by small ones (it waits at most WAIT_S).
"""

from __future__ import annotations

import asyncio
from collections import deque

from agenttasks.api.trigger import MAX_PAYLOAD_BYTES

MIN_RESERVATION = 64 * 1024
BUDGET = 32 * 1024 * 1024
RUNNING = BUDGET // MIN_RESERVATION  # the most that can run at once (512)
WAITING = 256
WAIT_S = 5.0

_Waiter = tuple[int, "asyncio.Future[None]"]


def reservation(declared: int | None) -> int:
    """The bytes a delivery that declares ``declared`` bytes of body reserves."""
    if declared is None:
        return MAX_PAYLOAD_BYTES  # chunked: it may send up to the largest size
    return min(max(declared, MIN_RESERVATION), MAX_PAYLOAD_BYTES)


class Turns:
    def __init__(self, running: int = RUNNING, waiting: int = WAITING,
                 wait_s: float = WAIT_S, budget: int = BUDGET) -> None:
        self.max_running, self.max_waiting, self.wait_s = running, waiting, wait_s
        self.budget = budget
        self.running = 0
        self.reserved = 0
        self._queue: deque[_Waiter] = deque()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    async def acquire(self, size: int) -> bool:
        """A turn for ``size`` bytes (True: release it after with the same size), or False
        when too many wait or the wait is over."""
        size = min(size, self.budget)  # a body over the budget runs alone
        if not self._queue and self._fits(size):
            self._take(size)
            return True
        if len(self._queue) >= self.max_waiting:
            return False
        waiter: _Waiter = (size, asyncio.get_running_loop().create_future())
        self._queue.append(waiter)
        try:
            async with asyncio.timeout(self.wait_s):
                await waiter[1]
            return True
        except TimeoutError:
            self._give_up(waiter)
            return False
        except asyncio.CancelledError:  # the sender went away while it waited
            self._give_up(waiter)
            raise

    def release(self, size: int) -> None:
        self.running -= 1
        self.reserved -= min(size, self.budget)
        self._next()

    def _fits(self, size: int) -> bool:
        return self.running < self.max_running and self.reserved + size <= self.budget

    def _take(self, size: int) -> None:
        self.running += 1
        self.reserved += size

    def _give_up(self, waiter: _Waiter) -> None:
        size, turn = waiter
        if turn.done() and not turn.cancelled():
            self.release(size)  # the turn came as the wait ended: hand it on
            return
        turn.cancel()
        if waiter in self._queue:
            self._queue.remove(waiter)
        self._next()  # it may have held the head back

    def _next(self) -> None:
        """Hands turns to the waiters at the head, in order, while they fit."""
        while self._queue:
            size, turn = self._queue[0]
            if turn.done():  # cancelled, its give-up still to run (which then finds it gone)
                self._queue.popleft()
                continue
            if not self._fits(size):
                return
            self._queue.popleft()
            self._take(size)
            turn.set_result(None)
