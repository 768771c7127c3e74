"""The progress endpoint over HTTP with a fake client that counts Secret reads: what is
refused before any API read, and the inbox of reports, filled past its bound and drained."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiohttp.test_utils import TestClient, TestServer

from agenttasks.api.task import AgentTaskStatus, Progress
from agenttasks.core.facts import TaskFacts, TaskSummary, summarize
from agenttasks.inbox.agent_reports import Coalescer, ProgressInbox
from agenttasks.kube.client import Kube
from agenttasks.kube.progress_tokens import ProgressTokens
from agenttasks.web.progress_endpoint import ProgressEndpoint, open_task_uid
from agenttasks.web.server import build_app

from .test_progress_tokens import NS, T0, FakeSecrets, owner, secret, task

Client = TestClient[Any, Any]


class World:
    def __init__(self, max_pending: int = 100) -> None:
        self.fake = FakeSecrets()
        self.tokens = ProgressTokens(cast(Kube, self.fake))
        self.inbox = ProgressInbox(max_pending=max_pending)
        self.tasks: dict[tuple[str, str], TaskFacts] = {}
        self.endpoint = ProgressEndpoint(self.tokens, self.inbox,
                                         watched=lambda ns: ns == NS, task=self.summary)

    def summary(self, key: tuple[str, str]) -> TaskSummary | None:
        facts = self.tasks.get(key)
        return summarize(facts) if facts is not None else None

    def running(self, name: str, uid: str) -> TaskFacts:
        facts = TaskFacts(NS, name, uid, 1, T0, None,
                          AgentTaskStatus(phase="InProgress", attempts=1))
        self.tasks[facts.key] = facts
        return facts


def serve(world: World, test: Callable[[Client], Awaitable[None]]) -> None:
    async def main() -> None:
        client: Client = TestClient(TestServer(build_app(progress=world.endpoint)))
        await client.start_server()
        try:
            await test(client)
        finally:
            await client.close()

    asyncio.run(main())


async def post(client: Client, ns: str, name: str, token: str | None,
               body: Any = None) -> int:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = await client.post(f"/progress/{ns}/{name}", headers=headers,
                                 json=body if body is not None else {"completed": 1})
    return int(response.status)


def test_refusals_decided_from_memory_cost_no_api_read() -> None:
    world = World()
    # A Secret an attacker planted in a namespace the operator does not watch.
    world.fake.secrets[("elsewhere", "t-progress")] = secret("t-progress", "tok", 1,
                                                             [owner("t", "uid-t")])

    # Even a task the view knows of there (the watched check alone must refuse it).
    world.tasks[("elsewhere", "t")] = TaskFacts("elsewhere", "t", "uid-t", 1, T0, None,
                                                AgentTaskStatus(phase="InProgress"))

    async def test(client: Client) -> None:
        assert await post(client, "elsewhere", "t", "bad-token") == 401  # not watched
        assert await post(client, "elsewhere", "t", "tok") == 401  # not even the right one
        assert await post(client, NS, "unknown-task", "bad-token") == 401  # no such task
        world.running("t", "uid-t")
        assert await post(client, NS, "t", None) == 401  # no token at all
        assert await post(client, NS, "t", "") == 401
        finished = TaskFacts(NS, "done", "uid-d", 1, T0, None,
                             AgentTaskStatus(phase="Completed", reason="Succeeded"))
        world.tasks[finished.key] = finished
        assert await post(client, NS, "done", "bad-token") == 401
        assert world.fake.calls == []

    serve(world, test)


def test_the_current_token_is_accepted_and_a_bad_one_costs_no_read() -> None:
    world = World()

    async def test(client: Client) -> None:
        facts = world.running("t", "uid-t")
        await world.tokens.ensure(facts, 1)
        token = (await world.tokens.current(NS, "t")) or (0, "")
        world.fake.calls.clear()
        for _ in range(20):
            assert await post(client, NS, "t", "bad-token") == 401
        assert await post(client, NS, "t", token[1], {"completed": 2, "total": 4}) == 202
        assert world.inbox.due((NS, "t")) == Progress(completed=2, total=4, percent=50,
                                                      attempt=1)
        assert world.fake.calls == []

    serve(world, test)


def test_a_finished_tasks_token_is_refused_once_the_reconciler_forgets_it() -> None:
    world = World()

    async def test(client: Client) -> None:
        facts = world.running("t", "uid-t")
        await world.tokens.ensure(facts, 1)
        token = ((await world.tokens.current(NS, "t")) or (0, ""))[1]
        assert await post(client, NS, "t", token) == 202
        world.tokens.forget(NS, "t")  # the reconciler, as the task becomes terminal
        world.fake.calls.clear()
        assert await post(client, NS, "t", token) == 401  # the view still says running
        world.tasks[facts.key] = TaskFacts(NS, "t", "uid-t", 1, T0, None, AgentTaskStatus(
            phase="Failed", reason="BackoffLimitExceeded"))
        assert await post(client, NS, "t", token) == 401
        assert world.fake.calls == []

    serve(world, test)


def test_without_the_lookups_the_endpoint_still_checks_the_token_and_the_owner() -> None:
    """The defaults (every namespace, no view of tasks) keep the old wiring working."""
    fake = FakeSecrets()
    fake.secrets[(NS, "t-progress")] = secret("t-progress", "tok", 1, [owner("t", "uid-t")])
    fake.secrets[(NS, "p-progress")] = secret("p-progress", "planted", 1, [])
    tokens = ProgressTokens(cast(Kube, fake))
    world = World()
    world.endpoint = ProgressEndpoint(tokens, world.inbox)

    async def test(client: Client) -> None:
        assert await post(client, NS, "t", "tok") == 202  # after a restart: read once
        assert await post(client, NS, "t", "wrong") == 401
        assert await post(client, NS, "p", "planted") == 401  # nobody's Secret
        assert fake.reads() == 2

    serve(world, test)


def test_a_full_inbox_answers_503_and_takes_reports_again_once_drained() -> None:
    world = World(max_pending=2)

    async def test(client: Client) -> None:
        held: dict[str, str] = {}
        for name in ("a", "b", "c"):
            facts = world.running(name, f"uid-{name}")
            await world.tokens.ensure(facts, 1)
            held[name] = ((await world.tokens.current(NS, name)) or (0, ""))[1]
        assert await post(client, NS, "a", held["a"]) == 202
        assert await post(client, NS, "b", held["b"]) == 202
        assert await post(client, NS, "a", held["a"], {"completed": 2}) == 202  # newest
        assert await post(client, NS, "c", held["c"]) == 503
        assert world.inbox.sizes()[0] == 2
        report = world.inbox.due((NS, "a"))
        assert report is not None and report.completed == 2
        world.inbox.written((NS, "a"), report)  # the reconciler wrote it
        assert await post(client, NS, "c", held["c"]) == 202

    serve(world, test)


def test_the_coalescer_is_bounded_and_drains() -> None:
    c = Coalescer(interval_s=1.0, max_pending=3)
    keys = [(NS, f"t{i}") for i in range(10)]
    assert [c.offer(k, Progress(completed=1), now=0.0) for k in keys[:4]] == \
        [0.0, 0.0, 0.0, None]
    assert c.pending_count() == 3
    for k in keys[:3]:
        assert c.take(k, now=0.0) is not None
    assert c.pending_count() == 0 and c.write_times_kept() == 3
    for i, k in enumerate(keys):  # write times of many tasks: only the newest are kept
        c.written(k, Progress(), now=10.0 + i)
    assert c.write_times_kept() == 3
    assert c.offer_delay(keys[9], now=19.5) == 0.5  # a kept one still delays its task
    for k in keys:
        c.forget(k)
    assert (c.pending_count(), c.write_times_kept()) == (0, 0)


def test_only_an_unfinished_task_may_report() -> None:
    assert open_task_uid(None) is None
    assert open_task_uid(summarize(task())) == "uid-t"
    cancelled = TaskFacts(NS, "t", "uid-t", 1, T0, None,
                          AgentTaskStatus(phase="Cancelled"))
    assert open_task_uid(summarize(cancelled)) is None
