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


def test_start_workers_take_only_urgent_keys() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        queue.add("routine")
        starter = asyncio.ensure_future(queue.get_urgent())
        await asyncio.sleep(0)
        assert not starter.done()  # a routine key is not for it
        queue.add("granted", urgent=True)
        assert await asyncio.wait_for(starter, 1) == "granted"
        assert await queue.get() == "routine"  # the spare permit finds nothing twice
        assert len(queue) == 0

    run(scenario())


def test_a_key_taken_by_either_worker_is_never_handed_out_twice() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        queue.add("a")
        queue.add("a", urgent=True)  # two entries, one key
        queue.add("b", urgent=True)
        assert await queue.get() == "a"  # urgent first
        assert await queue.get_urgent() == "b"  # "a"'s urgent entry is gone
        queue.add("c")
        assert await asyncio.wait_for(queue.get(), 1) == "c"  # stale permits are skipped
        waiting = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0.01)
        assert not waiting.done()  # nothing left: spare permits hand out nothing
        waiting.cancel()

    run(scenario())
