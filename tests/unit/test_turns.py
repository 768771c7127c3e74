"""Turns for webhook deliveries (web/turns.py): bytes and number bounded, waiters in order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from agenttasks.api.trigger import MAX_PAYLOAD_BYTES
from agenttasks.web.turns import MIN_RESERVATION, RUNNING, Turns, reservation

KIB = 1024


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 5))


async def settled() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_delivery_reserves_its_declared_size_within_bounds() -> None:
    assert reservation(None) == MAX_PAYLOAD_BYTES  # chunked: it may send the largest
    assert reservation(300) == MIN_RESERVATION
    assert reservation(200 * KIB) == 200 * KIB
    assert reservation(50 * MAX_PAYLOAD_BYTES) == MAX_PAYLOAD_BYTES
    assert RUNNING == 512  # small deliveries: 32 MiB / 64 KiB


def test_small_deliveries_run_together_until_the_count_or_the_bytes_run_out() -> None:
    async def test() -> None:
        by_count = Turns(running=3, waiting=0, budget=1024 * KIB)
        assert all([await by_count.acquire(64 * KIB) for _ in range(3)])
        assert not await by_count.acquire(64 * KIB)  # a fourth: the count is reached
        by_bytes = Turns(running=100, waiting=0, budget=1024 * KIB)
        assert await by_bytes.acquire(600 * KIB)
        assert await by_bytes.acquire(400 * KIB)
        assert not await by_bytes.acquire(64 * KIB)  # the bytes are reserved
        assert (by_bytes.running, by_bytes.reserved) == (2, 1000 * KIB)
        by_bytes.release(400 * KIB)
        assert await by_bytes.acquire(64 * KIB)

    run(test)


def test_waiters_get_their_turn_in_order_of_arrival() -> None:
    async def test() -> None:
        turns = Turns(running=100, waiting=10, budget=1024 * KIB)
        assert await turns.acquire(700 * KIB)
        big = asyncio.ensure_future(turns.acquire(700 * KIB))
        await settled()
        small = asyncio.ensure_future(turns.acquire(64 * KIB))  # would fit, but comes later
        await settled()
        assert not big.done() and not small.done() and turns.waiting == 2
        turns.release(700 * KIB)
        assert await big and await small
        assert (turns.running, turns.reserved, turns.waiting) == (2, 764 * KIB, 0)

    run(test)


def test_a_waiter_that_gives_up_lets_those_behind_it_in() -> None:
    async def test() -> None:
        turns = Turns(running=100, waiting=10, wait_s=0.2, budget=1024 * KIB)
        assert await turns.acquire(700 * KIB)
        big = asyncio.ensure_future(turns.acquire(700 * KIB))
        await settled()
        turns.wait_s = 5.0  # only the big one times out
        small = asyncio.ensure_future(turns.acquire(64 * KIB))
        assert not await big  # its wait is over: refused
        assert await small  # it fits now that the head is gone
        assert (turns.running, turns.reserved, turns.waiting) == (2, 764 * KIB, 0)

    run(test)


def test_a_sender_gone_while_waiting_holds_nothing() -> None:
    async def test() -> None:
        turns = Turns(running=1, waiting=10)
        assert await turns.acquire(64 * KIB)
        gone = asyncio.ensure_future(turns.acquire(64 * KIB))
        await settled()
        gone.cancel()
        await settled()
        assert turns.waiting == 0
        turns.release(64 * KIB)
        assert (turns.running, turns.reserved) == (0, 0)

    run(test)


def test_a_turn_that_comes_as_its_waiter_is_cancelled_is_handed_back() -> None:
    async def test() -> None:
        turns = Turns(running=1, waiting=10)
        assert await turns.acquire(64 * KIB)
        waiter = asyncio.ensure_future(turns.acquire(64 * KIB))
        await settled()
        turns.release(64 * KIB)  # the turn is the waiter's now ...
        waiter.cancel()  # ... and it is cancelled before it runs again
        await settled()
        assert waiter.cancelled()
        assert (turns.running, turns.reserved, turns.waiting) == (0, 0, 0)
        assert await turns.acquire(64 * KIB)  # nothing leaked

    run(test)
