"""The filter worker pool, with real worker processes: answers, the hard time limit (the
overrunning worker is killed and replaced), other triggers unharmed, the loop never
blocked."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from agenttasks.core.filters import Outcome
from agenttasks.web.filter_runner import Failure, FilterRunner

BODY = json.dumps({"action": "opened", "items": list(range(1000))}).encode()
# A million comprehension steps: minutes in cel-python (three levels would be refused at
# admission; two levels over 1,000 items are allowed and are what the time limit is for).
SLOW = "body.items.exists(x, body.items.exists(y, x + y < 0))"


@asynccontextmanager
async def runner(**options: float) -> AsyncIterator[FilterRunner]:
    pool = FilterRunner(**options)  # type: ignore[arg-type]
    pool.start()
    await pool.started()
    try:
        yield pool
    finally:
        pool.close()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def _max_loop_lag(until: asyncio.Future[object]) -> float:
    """The longest the loop was late to wake a 20 ms sleep while ``until`` was pending."""
    worst = 0.0
    while not until.done():
        started = time.monotonic()
        await asyncio.sleep(0.02)
        worst = max(worst, time.monotonic() - started - 0.02)
    return worst


def test_answers_match_and_no_match() -> None:
    async def main() -> None:
        async with runner(timeout=10.0, wait=30.0) as pool:
            match = await pool.run(("a", "t"), 'body.action == "opened"', BODY)
            no_match = await pool.run(("a", "t"), 'body.action == "closed"', BODY)
            invalid = await pool.run(("a", "t"), "body.action ==", BODY)
            assert (match.outcome, no_match.outcome, invalid.outcome) == (
                Outcome.MATCH, Outcome.NO_MATCH, Outcome.INVALID)
            assert pool.replaced == 0

    asyncio.run(main())


def test_an_overrun_is_killed_while_other_triggers_and_the_loop_carry_on() -> None:
    async def main() -> None:
        # The limit is wall-clock time, so a fast filter on a loaded 2-core machine needs
        # some room too: 3 s, not the 1 s that once cut a trivial filter there.
        async with runner(timeout=3.0, wait=30.0) as pool:
            started = time.monotonic()
            slow = asyncio.ensure_future(pool.run(("tenant-a", "slow"), SLOW, BODY))
            lag = asyncio.ensure_future(_max_loop_lag(slow))
            others = [await pool.run(("tenant-b", "fast"), 'body.action == "opened"', BODY)
                      for _ in range(5)]
            verdict = await slow
            elapsed = time.monotonic() - started
            assert verdict.failure == Failure.TIMED_OUT and verdict.outcome is None
            assert elapsed < 10, elapsed  # cut at the limit, not after minutes
            assert [o.outcome for o in others] == [Outcome.MATCH] * 5
            # Never blocked for the filter's run: a loop waiting on the worker would be late by
            # the whole limit (3 s); on a loaded 2-core machine a 0.5 s bound was too close.
            assert await lag < pool.timeout / 2
            assert pool.replaced == 1
            # The replacement serves the next delivery of the same trigger.
            again = await pool.run(("tenant-a", "slow"), 'body.action == "opened"', BODY)
            assert again.outcome == Outcome.MATCH

    asyncio.run(main())


def test_one_trigger_holds_at_most_one_worker() -> None:
    async def main() -> None:
        async with runner(timeout=3.0, wait=30.0) as pool:
            # Two slow deliveries of one trigger run one after the other, never both at
            # once, so another trigger always finds the second worker free: its filter is
            # done while the first slow one still runs (not after both, 6 s on).
            slow = [asyncio.ensure_future(pool.run(("a", "slow"), SLOW, BODY))
                    for _ in range(2)]
            await until(lambda: pool.idle == 1)
            other = await pool.run(("b", "fast"), "true", BODY)
            assert other.outcome == Outcome.MATCH and not any(s.done() for s in slow)
            assert [v.failure for v in await asyncio.gather(*slow)] == [Failure.TIMED_OUT] * 2

    asyncio.run(main())


def test_waiting_for_a_worker_is_bounded() -> None:
    async def main() -> None:
        async with runner(workers=1, timeout=3.0, wait=0.3) as pool:
            slow = asyncio.ensure_future(pool.run(("a", "slow"), SLOW, BODY))
            await until(lambda: pool.idle == 0)
            busy = await pool.run(("b", "fast"), "true", BODY)
            assert busy.failure == Failure.BUSY
            assert (await slow).failure == Failure.TIMED_OUT

    asyncio.run(main())


def test_the_first_delivery_waits_for_the_workers_to_start() -> None:
    async def main() -> None:
        pool = FilterRunner(timeout=5.0, wait=0.01)  # not started: the first run starts it
        try:
            verdict = await pool.run(("a", "t"), 'body.action == "opened"', BODY)
            assert verdict.outcome == Outcome.MATCH
        finally:
            pool.close()

    asyncio.run(main())
