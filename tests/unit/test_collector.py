"""FreezeAfterCollections (agenttasks.collector): what survives a full collection is frozen,
and a thaw every so often collects the cycles that died frozen."""

from __future__ import annotations

import asyncio
import gc
import weakref

from agenttasks.collector import FreezeAfterCollections


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


async def turn() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_install_freezes_what_lives_and_uninstall_thaws_it() -> None:
    async def test() -> None:
        policy = FreezeAfterCollections(asyncio.get_running_loop())
        policy.install()
        try:
            assert gc.get_freeze_count() > 0
        finally:
            policy.uninstall()
        assert gc.get_freeze_count() == 0

    asyncio.run(test())


def collected_by_the_collector(probe: object) -> bool:
    """Whether the collector walks ``probe`` (get_objects leaves out the frozen ones)."""
    return any(o is probe for o in gc.get_objects())


def test_what_survives_a_full_collection_is_frozen_on_the_next_turn() -> None:
    async def test() -> None:
        policy = FreezeAfterCollections(asyncio.get_running_loop())
        policy.install()
        try:
            probe = [["new"]]  # lists are always tracked
            assert collected_by_the_collector(probe)
            gc.collect()
            assert collected_by_the_collector(probe)  # not frozen inside the collection ...
            await turn()
            assert not collected_by_the_collector(probe)  # ... but right after it
        finally:
            policy.uninstall()
        assert collected_by_the_collector(probe)

    asyncio.run(test())


def test_a_cycle_that_dies_frozen_is_collected_at_the_thaw() -> None:
    now = [0.0]

    async def test() -> None:
        policy = FreezeAfterCollections(asyncio.get_running_loop(), thaw_s=60.0,
                                        clock=lambda: now[0])
        node = Node()
        alive = weakref.ref(node)
        policy.install()  # the node is frozen with the rest
        try:
            del node
            gc.collect()
            await turn()
            assert alive() is not None  # frozen: the collector does not look at it
            now[0] = 61.0  # the thaw is due: the next full collection's turn does it
            gc.collect()
            await turn()
            assert alive() is None
            assert gc.get_freeze_count() > 0  # and everything alive is frozen again
        finally:
            policy.uninstall()

    asyncio.run(test())
