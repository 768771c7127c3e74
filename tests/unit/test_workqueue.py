"""The keyed work queue: coalescing, one worker per key, and the urgent lane."""

from __future__ import annotations

import asyncio

from agenttasks.controller.workqueue import WorkQueue


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_duplicates_coalesce() -> None:
    async def scenario() -> list[str]:
        queue: WorkQueue[str] = WorkQueue()
        for key in ("a", "b", "a", "a"):
            queue.add(key)
        got = [await queue.get(), await queue.get()]
        assert len(queue) == 0
        return got

    assert run(scenario()) == ["a", "b"]


def test_key_added_while_processing_comes_back_once_done() -> None:
    async def scenario() -> list[str]:
        queue: WorkQueue[str] = WorkQueue()
        queue.add("a")
        first = await queue.get()
        queue.add("a")
        queue.add("a")
        assert len(queue) == 0  # not handed to a second worker meanwhile
        queue.done(first)
        return [first, await queue.get()]

    assert run(scenario()) == ["a", "a"]


def test_urgent_keys_jump_the_backlog() -> None:
    async def scenario() -> list[str]:
        queue: WorkQueue[str] = WorkQueue()
        for key in ("r1", "r2", "r3"):
            queue.add(key)
        queue.add("granted", urgent=True)
        queue.add("r2", urgent=True)  # already queued: moves ahead, is not served twice
        return [await queue.get() for _ in range(4)]

    got = run(scenario())
    assert got == ["granted", "r2", "r1", "r3"]


def test_a_key_made_urgent_while_processed_comes_back_urgent() -> None:
    """A task granted a slot during its own pass is decided again before the backlog."""
    async def scenario() -> list[str]:
        queue: WorkQueue[str] = WorkQueue()
        queue.add("granted")
        first = await queue.get()
        for key in ("r1", "r2"):
            queue.add(key)
        queue.add("granted", urgent=True)
        queue.done(first)
        return [await queue.get() for _ in range(3)]

    assert run(scenario()) == ["granted", "r1", "r2"]
