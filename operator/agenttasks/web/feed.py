"""What changed in the operator's in-memory view, told to the dashboard's open streams.

The composition root calls ``ChangeFeed.changed(kind, (namespace, name))`` from the
informers' event handlers. Each stream subscribes with a test of what its view shows and
wakes only for those changes; many changes before it gets round to rendering are one wake
(a flag, not a queue), so a burst costs one render.

Everything here runs on the event loop's thread (the informers' handlers do), so a plain
asyncio.Event suffices.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Key = tuple[str, str]
KINDS = ("AgentTask", "AgentTaskSchedule", "AgentTaskTrigger")
Relevant = Callable[[str, Key], bool]


class Subscription:
    """One stream's wake-up: set by relevant changes, cleared by the stream when it renders."""

    def __init__(self, relevant: Relevant) -> None:
        self._relevant = relevant
        self._changed = asyncio.Event()

    def offer(self, kind: str, key: Key) -> None:
        if self._relevant(kind, key):
            self._changed.set()

    @property
    def pending(self) -> bool:
        """Something relevant changed since the last ``take``."""
        return self._changed.is_set()

    def take(self) -> bool:
        """Whether something relevant changed, and forget it: call it just before reading
        the view, so that a change during the render wakes the stream again."""
        pending = self._changed.is_set()
        self._changed.clear()
        return pending

    async def wait(self) -> None:
        """Until something relevant changes (at once if something already has)."""
        await self._changed.wait()


class ChangeFeed:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def changed(self, kind: str, key: Key) -> None:
        """An object of ``kind`` (AgentTask, AgentTaskSchedule or AgentTaskTrigger) at
        ``key`` (namespace, name) was added, modified or deleted."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
        for subscription in list(self._subscriptions):
            subscription.offer(kind, key)

    @contextmanager
    def subscribe(self, relevant: Relevant) -> Iterator[Subscription]:
        """A subscription for the duration of the ``with`` block."""
        subscription = Subscription(relevant)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)


def relevant_to(view: str, namespace: str) -> Relevant:
    """Which changes can alter what a view shows, with its namespace filter ("" for all).

    tasks and task: AgentTasks (a task's page draws its neighbours in the graph);
    schedules: schedules and AgentTasks (their last runs); triggers: triggers; queue:
    AgentTasks (and, for its estimates, the stream's regular re-render)."""
    kinds = {"tasks": {"AgentTask"}, "task": {"AgentTask"},
             "schedules": {"AgentTaskSchedule", "AgentTask"},
             "triggers": {"AgentTaskTrigger"}, "queue": {"AgentTask"}}[view]

    def relevant(kind: str, key: Key) -> bool:
        return kind in kinds and (not namespace or key[0] == namespace)

    return relevant
