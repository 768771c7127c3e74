"""Short garbage-collection pauses for a process that keeps many long-lived objects.

The operator holds every task, Job, schedule and trigger it watches in memory, tens of
objects each, and almost none of them are in reference cycles. CPython's cyclic collector
still walks all of them in every full (generation 2) collection, and the event loop stands
still meanwhile: in the webhook benchmark of issue 18 a full collection took 250 to 430 ms
at 240,000 to 420,000 objects, and a webhook p99 of 0.40 s at 50 deliveries a second
(direct writes: 0.02 s) was those pauses.

So what survives a full collection is frozen (gc.freeze): the collector skips it from then
on, and reference counting still frees it when its last reference goes. Each full
collection then walks only what came since the one before. A frozen object that later
becomes part of an unreachable cycle is not collected while frozen; such cycles are rare here
(those full collections found 0 to 390 collectable objects), and every THAW_S everything is
thawed and collected once, which bounds what they can hold.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("agenttasks.collector")
THAW_S = 900.0  # a full collection of everything every 15 minutes
SLOW_S = 0.1  # such a collection is logged when it takes longer


class FreezeAfterCollections:
    def __init__(self, loop: asyncio.AbstractEventLoop, thaw_s: float = THAW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.loop, self.thaw_s, self.clock = loop, thaw_s, clock
        self._thawed_at = clock()
        self._pending = False

    def install(self) -> None:
        """Freezes what is alive now (call it once the initial listings are in memory) and
        what survives each full collection from now on."""
        gc.collect()
        gc.freeze()
        self._thawed_at = self.clock()
        gc.callbacks.append(self._collected)

    def uninstall(self) -> None:
        if self._collected in gc.callbacks:
            gc.callbacks.remove(self._collected)
        gc.unfreeze()

    def _collected(self, phase: str, info: dict[str, Any]) -> None:
        # Inside the collection, possibly in another thread: the freeze waits for the loop.
        if phase == "stop" and info.get("generation") == 2 and not self._pending:
            self._pending = True
            self.loop.call_soon_threadsafe(self._freeze)

    def _freeze(self) -> None:
        if self.clock() - self._thawed_at >= self.thaw_s:
            self._thawed_at = self.clock()
            gc.unfreeze()
            started = time.perf_counter()
            gc.collect()  # still pending: its own callback schedules nothing
            took = time.perf_counter() - started
            if took > SLOW_S:
                log.info("a full collection of every object took %.2fs", took)
        gc.freeze()
        self._pending = False
