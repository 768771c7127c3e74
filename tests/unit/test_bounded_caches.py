"""The bounded map, the trigger Secret cache and single flight: filled past their bounds,
then drained; one call shared by every waiter, and its failure too."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, cast

import pytest

from agenttasks.core.bounded import BoundedMap
from agenttasks.kube.client import ApiError, Kube
from agenttasks.kube.secrets import SecretCache, SingleFlight

NS = "team"
JSON = dict[str, Any]


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


class FakeSecrets:
    """Secrets in memory; every read is counted."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], JSON] = {}
        self.read_count = 0

    async def read_secret(self, namespace: str, name: str) -> JSON | None:
        self.read_count += 1
        return self.secrets.get((namespace, name))


def test_the_bounded_map_drops_the_oldest_and_drains() -> None:
    m: BoundedMap[int, str] = BoundedMap(3)
    for i in range(10):
        m.put(i, str(i))
    assert list(m) == [7, 8, 9] and len(m) == 3
    m.put(7, "again")  # put again: now the newest
    m.put(10, "10")
    assert list(m) == [9, 7, 10]
    assert m.full_without(11) and not m.full_without(9)
    for key in list(m):
        assert m.pop(key) is not None
    assert len(m) == 0 and m.pop(1) is None and not m.full_without(1)
    with pytest.raises(ValueError):
        BoundedMap[int, int](0)


def test_the_bounded_map_drops_the_entries_a_caller_calls_stale() -> None:
    m: BoundedMap[str, float] = BoundedMap(4)
    for key, until in (("a", 5.0), ("b", 1.0), ("c", 9.0), ("d", 2.0)):
        m.put(key, until)
    m.drop_where(lambda until: until <= 2.0)
    assert list(m) == ["a", "c"]


def test_the_secret_cache_is_bounded_and_keeps_no_lock_per_secret() -> None:
    async def scenario() -> None:
        fake = FakeSecrets()
        for i in range(10):
            fake.secrets[(NS, f"s{i}")] = {"metadata": {}, "data": {"k": "dg=="}}
        now = [0.0]
        cache = SecretCache(cast(Kube, fake), ttl_s=10.0, capacity=4, clock=lambda: now[0])
        for i in range(10):
            assert (await cache.value(NS, f"s{i}", "k"))[1] == b"v"
        assert cache.sizes() == (4, 0)
        reads = fake.read_count
        await cache.value(NS, "s9", "k")  # still cached
        await cache.value(NS, "s0", "k")  # evicted: read again
        assert fake.read_count == reads + 1
        now[0] = 10.0  # everything stale: each is read once more, the size stays bounded
        for i in range(10):
            await cache.value(NS, f"s{i}", "k")
        assert cache.sizes() == (4, 0)

    run(scenario)


def test_single_flight_shares_one_call_and_its_failure() -> None:
    async def scenario() -> None:
        flight: SingleFlight[str, int] = SingleFlight()
        gate, calls = asyncio.Event(), [0]

        async def failing() -> int:
            calls[0] += 1
            await gate.wait()
            raise ApiError(500, "InternalError", "boom")

        waiting = [asyncio.create_task(flight.run("k", failing)) for _ in range(5)]
        await asyncio.sleep(0)
        gate.set()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert calls == [1] and all(isinstance(r, ApiError) for r in results)
        assert len(flight) == 0

    run(scenario)


def test_a_cancelled_read_lets_the_waiters_read_for_themselves() -> None:
    async def scenario() -> None:
        flight: SingleFlight[str, int] = SingleFlight()
        gate, calls = asyncio.Event(), [0]

        async def call() -> int:
            calls[0] += 1
            await gate.wait()
            return calls[0]

        first = asyncio.create_task(flight.run("k", call))
        await asyncio.sleep(0)
        second = asyncio.create_task(flight.run("k", call))
        await asyncio.sleep(0)
        first.cancel()
        await asyncio.sleep(0)
        gate.set()
        assert await second == 2
        assert first.cancelled() and len(flight) == 0

    run(scenario)
