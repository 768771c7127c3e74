"""The engine's small parts: the overlay of our own status writes, the wake-up heap, and
the slot keeper's passes (only while active, one pass for many kicks)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from agenttasks.controller.overlay import OverlaidIndex
from agenttasks.controller.slot_keeper import SlotKeeper
from agenttasks.controller.timers import WakeUps
from agenttasks.core.facts import JobFacts
from agenttasks.core.queue import Candidate, Limits

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
KEY = ("ns", "t")


@dataclass(frozen=True)
class Facts:
    resource_version: str
    status: Any


def test_the_overlay_shows_our_write_until_the_index_catches_up() -> None:
    index: dict[tuple[str, str], list[Facts]] = {KEY: [Facts("5", "old")]}
    overlay: OverlaidIndex[Facts] = OverlaidIndex()
    overlay.attach(index)
    overlay.remember_status(KEY, "7", "ours")
    assert overlay.get(KEY) == Facts("7", "ours")
    assert overlay.is_own_write(KEY, "7") and not overlay.is_own_write(KEY, "6")
    index[KEY] = [Facts("8", "newer")]
    assert overlay.get(KEY) == Facts("8", "newer")  # a later revision wins over our write
    assert not overlay.is_own_write(KEY, "7")  # and the write is forgotten


def test_wake_ups_fire_when_due_and_keep_the_earliest_with_soon() -> None:
    async def scenario() -> list[Any]:
        now = [T0]
        fired: list[Any] = []
        wakeups = WakeUps(fired.append, clock=lambda: now[0])
        wakeups.at("late", T0 + timedelta(seconds=30))
        wakeups.at("a", T0 + timedelta(seconds=10))
        wakeups.soon("a", T0 + timedelta(seconds=20))  # later than the one it has: kept
        wakeups.at("gone", T0 + timedelta(seconds=5))
        wakeups.forget("gone")
        now[0] = T0 + timedelta(seconds=10)
        runner = asyncio.create_task(wakeups.run())
        for _ in range(100):
            await asyncio.sleep(0)
            if fired:
                break
        runner.cancel()
        assert len(wakeups) == 1  # "late" still waits
        return fired

    assert asyncio.run(scenario()) == ["a"]


def test_the_keeper_grants_only_while_active_and_wakes_the_granted() -> None:
    async def scenario() -> None:
        woken: list[tuple[str, str]] = []
        keeper = SlotKeeper(Limits(1), None, woken.append, clock=lambda: T0)
        keeper.listed([])
        candidate = Candidate("ns", "t", 0, T0, T0)
        assert keeper.offer(candidate) is False  # a standby grants nothing
        keeper.activate()
        await asyncio.sleep(0)
        assert woken == [KEY] and keeper.granted_at(KEY) == T0
        keeper.sent(KEY, "t-1")
        keeper.job_changed("ns", "t", JobFacts(name="t-1", attempt=1, created=T0, active=1))
        assert keeper.granted_at(KEY) is None and keeper.running().total == 1
        other = Candidate("ns", "u", 0, T0, T0)
        assert keeper.offer(other) is False  # full
        keeper.job_gone("ns", "t-1")
        await asyncio.sleep(0)
        assert woken[-1] == ("ns", "u")

    asyncio.run(scenario())
