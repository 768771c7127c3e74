"""The change feed, and streams that render only when it says their view changed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agenttasks.api.task import Phase
from agenttasks.kube.access_reviews import ANSWER_TTL_S
from agenttasks.web.dashboard import Dashboard
from agenttasks.web.feed import ChangeFeed, relevant_to
from tests.unit.test_dashboard_http import READER, World, bearer, next_event, run, task


@pytest.mark.parametrize(("view", "namespace", "kind", "key", "relevant"), [
    ("tasks", "", "AgentTask", ("b", "x"), True),
    ("tasks", "a", "AgentTask", ("a", "x"), True),
    ("tasks", "a", "AgentTask", ("b", "x"), False),
    ("tasks", "", "AgentTaskTrigger", ("a", "x"), False),
    ("task", "a", "AgentTask", ("a", "neighbour"), True),
    ("task", "a", "AgentTaskSchedule", ("a", "s"), False),
    ("schedules", "", "AgentTaskSchedule", ("a", "s"), True),
    ("schedules", "a", "AgentTask", ("a", "s-1"), True),  # a last run changed phase
    ("schedules", "a", "AgentTaskSchedule", ("b", "s"), False),
    ("triggers", "", "AgentTaskTrigger", ("a", "gh"), True),
    ("triggers", "", "AgentTask", ("a", "t"), False),
])
def test_what_each_view_listens_to(view: str, namespace: str, kind: str,
                                   key: tuple[str, str], relevant: bool) -> None:
    assert relevant_to(view, namespace)(kind, key) is relevant


def test_a_subscription_holds_one_flag_for_a_burst_of_relevant_changes() -> None:
    feed = ChangeFeed()
    with feed.subscribe(relevant_to("tasks", "a")) as changes:
        feed.changed("AgentTask", ("b", "x"))
        feed.changed("AgentTaskTrigger", ("a", "x"))
        assert not changes.pending
        for _ in range(100):
            feed.changed("AgentTask", ("a", "x"))
        assert changes.pending
        assert changes.take() is True
        assert changes.take() is False and not changes.pending
        assert feed.subscribers == 1
    assert feed.subscribers == 0
    feed.changed("AgentTask", ("a", "x"))  # nobody listens: nothing to do
    assert not changes.pending


def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown kind 'Job'"):
        ChangeFeed().changed("Job", ("a", "x"))


def test_wait_returns_when_something_relevant_changes() -> None:
    async def main() -> None:
        feed = ChangeFeed()
        with feed.subscribe(relevant_to("triggers", "")) as changes:
            waiter = asyncio.ensure_future(changes.wait())
            feed.changed("AgentTask", ("a", "t"))
            assert not changes.pending  # so the waiter still waits
            feed.changed("AgentTaskTrigger", ("a", "gh"))
            await asyncio.wait_for(waiter, 5)

    asyncio.run(main())


def count_renders(world: World, after: Any = None) -> list[str]:
    """Wraps the views' render: records each render's view and, after it, runs ``after``
    (a change arriving while the stream is busy rendering)."""
    seen: list[str] = []
    real = world.dashboard.views.render

    async def render(kind: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        payload = await real(kind, *args, **kwargs)
        seen.append(kind)
        if after is not None:
            after(len(seen))
        return payload

    world.dashboard.views.render = render  # type: ignore[method-assign]
    return seen


def test_a_stream_renders_once_per_burst_and_not_for_other_namespaces() -> None:
    world = World()
    renders = count_renders(world)

    async def check(client: TestClient[Any, Any]) -> None:
        resp = await client.get("/api/dashboard/stream/tasks?namespace=a",
                                headers=bearer(READER))
        event, data = await next_event(resp)
        assert event == "view" and 'data-name="t1" data-phase="InProgress"' in data["html"]
        assert renders == ["tasks"]
        world.put(task("b", "secret", Phase.COMPLETED, rv="2"))  # not in its namespace
        world.feed.changed("AgentTaskTrigger", ("a", "gh"))  # not in its view
        for rv in range(3, 20):  # a burst, in one go
            world.put(task("a", "t1", Phase.IN_PROGRESS, rv=str(rv)))
        world.put(task("a", "t1", Phase.COMPLETED, rv="20"))
        event, data = await next_event(resp)
        assert event == "view" and 'data-name="t1" data-phase="Completed"' in data["html"]
        assert renders == ["tasks", "tasks"]
        resp.close()

    run(world, check)


def test_a_change_during_a_render_is_not_lost() -> None:
    world = World()

    def during(count: int) -> None:
        if count == 2:  # the second render has read the view; this change comes after
            world.put(task("a", "t1", Phase.FAILED, rv="3"))

    renders = count_renders(world, during)

    async def check(client: TestClient[Any, Any]) -> None:
        resp = await client.get("/api/dashboard/stream/tasks?namespace=a",
                                headers=bearer(READER))
        assert (await next_event(resp))[0] == "view"
        world.put(task("a", "t1", Phase.PAUSED, rv="2"))
        event, data = await next_event(resp)
        assert event == "view" and 'data-name="t1" data-phase="Paused"' in data["html"]
        event, data = await next_event(resp)
        assert event == "view" and 'data-name="t1" data-phase="Failed"' in data["html"]
        assert len(renders) == 3
        resp.close()

    run(world, check)


def test_the_dashboard_listens_to_the_feed_it_is_given() -> None:
    world = World()
    given = ChangeFeed()
    world.dashboard = Dashboard(world.kube, world.dashboard.sources, feed=given,
                                access=world.access)
    assert world.dashboard.feed is given and world.dashboard.sources.feed is not given
    world.feed = given  # World.put tells this feed now

    async def check(client: TestClient[Any, Any]) -> None:
        resp = await client.get("/api/dashboard/stream/tasks?namespace=a",
                                headers=bearer(READER))
        assert (await next_event(resp))[0] == "view"
        assert given.subscribers == 1
        world.put(task("a", "t1", Phase.FAILED, rv="2"))
        event, data = await next_event(resp)
        assert 'data-name="t1" data-phase="Failed"' in data["html"]
        world.kube.rules.discard(("reader", "list", "agenttasks", "a"))
        world.now += ANSWER_TTL_S
        world.put(task("a", "t1", Phase.FAILED, rv="3"))
        event, data = await next_event(resp)
        assert event == "failure" and data["status"] == 403
        await asyncio.wait_for(resp.content.read(), 5)  # the stream has ended
        assert given.subscribers == 0

    run(world, check)
