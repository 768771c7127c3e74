"""Turns for webhook deliveries: a bounded number run at once, a bounded number wait.

A delivery's cost is its body (up to 1 MiB) and its API writes, so only so many run at once.
Refusing the next one at once would turn a short burst into 503s that senders like GitHub do
not retry; letting every one wait would let a flood hold unbounded connections. So a few
may wait, for a few seconds, before a turn; a waiting delivery has not read its body yet,
so it holds a connection and nothing more.
"""

from __future__ import annotations

import asyncio

RUNNING = 64
WAITING = 256
WAIT_S = 5.0


class Turns:
    def __init__(self, running: int = RUNNING, waiting: int = WAITING,
                 wait_s: float = WAIT_S) -> None:
        self.max_running, self.max_waiting, self.wait_s = running, waiting, wait_s
        self._free = asyncio.Semaphore(running)
        self.running = 0
        self.waiting = 0

    async def acquire(self) -> bool:
        """A turn (True, release it after), or False when too many wait or the wait is over."""
        if self._free.locked() and self.waiting >= self.max_waiting:
            return False
        self.waiting += 1
        try:
            async with asyncio.timeout(self.wait_s):
                await self._free.acquire()
        except TimeoutError:
            return False
        finally:
            self.waiting -= 1
        self.running += 1
        return True

    def release(self) -> None:
        self.running -= 1
        self._free.release()
