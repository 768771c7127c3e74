"""The dashboard over HTTP, with a fake API server: pages, reads, streams and actions, and
that nothing happens without a token and a SubjectAccessReview allowing it."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from agenttasks.api.task import AgentTaskSpec, AgentTaskStatus, Phase
from agenttasks.controller.overlay import OverlaidIndex
from agenttasks.controller.schedule_view import ScheduleView
from agenttasks.controller.task_view import TaskView
from agenttasks.core.facts import TaskFacts
from agenttasks.core.naming import manual_task_name
from agenttasks.core.triggers import TriggerFacts
from agenttasks.kube.access_reviews import ANSWER_TTL_S, AccessReviews
from agenttasks.kube.client import ApiError
from agenttasks.web import dashboard as dashboard_module
from agenttasks.web.dashboard import Dashboard
from agenttasks.web.feed import ChangeFeed
from agenttasks.web.server import build_app
from agenttasks.web.stream_slots import StreamSlots
from agenttasks.web.token_throttle import TokenReviewThrottle
from agenttasks.web.views import Sources

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TEMPLATE = {"spec": {"containers": [{"name": "a", "image": "busybox"}]}}
WRITER, READER, ADMIN = "writer-token-1", "reader-token-2", "admin-token-3"
Key = tuple[str, str]


class FakeKube:
    """A tiny API server: users by token, RBAC rules (user, verb, resource, namespace), and
    the objects the operator's own client would read and write."""

    def __init__(self) -> None:
        self.users = {WRITER: "writer", READER: "reader", ADMIN: "admin"}
        self.rules = {("writer", verb, "agenttasks", "a") for verb in
                      ("get", "list", "patch", "create")}
        self.rules |= {("reader", "get", "agenttasks", "a"), ("reader", "list", "agenttasks", "a"),
                       ("admin", "list", "agenttasks", ""), ("writer", "list", "events", "a"),
                       ("writer", "patch", "agenttaskschedules", "a"),
                       ("writer", "create", "jobs", "a")}
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.patches: list[tuple[str, str, str, dict[str, Any]]] = []
        self.created: list[dict[str, Any]] = []
        self.writes: list[tuple[str, str]] = []  # ("dry-run" or "create", name), in order
        self.refusal: ApiError | None = None
        self.access_reviews: list[dict[str, Any]] = []

    async def review_token(self, body: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(body["spec"]["token"])
        if user is None:
            return {"status": {"authenticated": False}}
        return {"status": {"authenticated": True, "user": {"username": user, "groups": []}}}

    async def review_access(self, body: dict[str, Any]) -> dict[str, Any]:
        self.access_reviews.append(body)
        attrs = body["spec"]["resourceAttributes"]
        key = (body["spec"]["user"], attrs["verb"], attrs["resource"], attrs.get("namespace", ""))
        return {"status": {"allowed": key in self.rules}}

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((plural, namespace, name))

    async def create_object(self, plural: str, body: dict[str, Any],
                            dry_run: bool = False) -> dict[str, Any]:
        """Stores nothing on a dry run; ``refusal`` (as the API server's admission would)
        refuses both."""
        self.writes.append(("dry-run" if dry_run else "create", body["metadata"]["name"]))
        if self.refusal is not None:
            raise self.refusal
        if not dry_run:
            self.created.append(body)
        return {**body, "metadata": {**body["metadata"], "uid": "new-uid"}}

    async def patch_object(self, plural: str, namespace: str, name: str,
                           patch: dict[str, Any]) -> dict[str, Any]:
        self.patches.append((plural, namespace, name, patch))
        return {}

    async def list_events(self, namespace: str, kind: str, name: str,
                          limit: int = 200) -> list[dict[str, Any]]:
        return [{"type": "Normal", "reason": "Started", "message": f"{name} started"}]


def task(ns: str, name: str, phase: Phase, rv: str = "1", **spec: Any) -> TaskFacts:
    return TaskFacts(namespace=ns, name=name, uid="u", generation=1, created=T0,
                     spec=AgentTaskSpec(template=TEMPLATE, **spec),
                     status=AgentTaskStatus(phase=phase), resource_version=rv)


class World:
    def __init__(self, read_only: bool = False, slots: StreamSlots | None = None) -> None:
        self.kube = FakeKube()
        self.index: dict[Key, list[TaskFacts]] = {}
        view = TaskView()
        view.attach(self.index, {}, {})
        triggers: OverlaidIndex[TriggerFacts] = OverlaidIndex()
        triggers.attach({})
        schedules = ScheduleView()
        schedules.attach({}, {})
        self.feed = ChangeFeed()
        self.now = 0.0  # the access reviews' clock: a revoked right is seen once it passes
        self.access = AccessReviews(self.kube, clock=lambda: self.now)
        self.dashboard = Dashboard(self.kube, Sources(view, schedules, triggers,
                                                      lambda ns: ns != "unwatched", self.feed),
                                   read_only_without_token=read_only, access=self.access,
                                   slots=slots)
        for facts in (task("a", "t1", Phase.IN_PROGRESS), task("b", "secret", Phase.PENDING),
                      task("a", "done", Phase.COMPLETED)):
            self.put(facts)

    def put(self, facts: TaskFacts) -> None:
        """As an informer's event: the index changes, then the feed is told."""
        self.index[facts.key] = [facts]
        status = facts.status.model_dump(by_alias=True, exclude_none=True, mode="json")
        self.kube.objects[("agenttasks", *facts.key)] = {
            "metadata": {"namespace": facts.namespace, "name": facts.name},
            "spec": {"template": TEMPLATE}, "status": status}
        self.feed.changed("AgentTask", facts.key)


@asynccontextmanager
async def serve(world: World) -> AsyncIterator[TestClient[Any, Any]]:
    client: TestClient[Any, Any] = TestClient(TestServer(build_app(
        dashboard=world.dashboard)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def run(world: World, test: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    async def main() -> None:
        async with serve(world) as client:
            await test(client)

    asyncio.run(main())


async def error_of(resp: ClientResponse) -> str:
    return str((await resp.json())["error"])


def test_pages_and_assets_need_no_token_and_carry_a_strict_csp() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        for path in ("/", "/schedules", "/triggers", "/tasks/a/t1"):
            resp = await client.get(path)
            assert resp.status == 200, path
            html = await resp.text()
            csp = resp.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp
            assert '<script src="/dashboard/assets/dashboard.js" defer></script>' in html
            assert html.count("<script") == 1 and "style=" not in html
            assert 'id="token" type="password"' in html
        resp = await client.get("/dashboard/assets/dashboard.js")
        assert resp.status == 200 and "text/javascript" in resp.headers["Content-Type"]
        assert "sessionStorage" in await resp.text()
        resp = await client.get("/dashboard/assets/dashboard.css")
        assert resp.status == 200 and "text/css" in resp.headers["Content-Type"]
        assert (await client.get("/tasks/Bad_NS/x")).status == 404

    run(World(), check)


def test_api_needs_a_valid_token() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        for path in ("/api/dashboard/whoami", "/api/dashboard/views/tasks",
                     "/api/dashboard/stream/tasks"):
            resp = await client.get(path)
            assert resp.status == 401, path
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            resp = await client.get(path, headers=bearer("not-a-token"))
            assert resp.status == 401, path
        resp = await client.get("/api/dashboard/whoami", headers=bearer(WRITER))
        assert resp.status == 200
        assert await resp.json() == {"user": "writer", "groups": [], "anonymous": False,
                                     "readOnlyWithoutToken": False}
        assert resp.headers["Cache-Control"] == "no-store"

    run(World(), check)


def test_reads_show_only_what_the_user_may_list() -> None:
    world = World()

    async def check(client: TestClient[Any, Any]) -> None:
        resp = await client.get("/api/dashboard/views/tasks", headers=bearer(READER))
        html = (await resp.json())["html"]
        assert 'data-name="t1"' in html and 'data-name="done"' in html
        assert "secret" not in html and 'value="b"' not in html  # nor namespace b's name
        assert "Only the namespaces where you may list agenttasks: a." in html
        resp = await client.get("/api/dashboard/views/tasks?phase=Completed",
                                headers=bearer(READER))
        html = (await resp.json())["html"]
        assert 'data-name="done"' in html and 'data-name="t1"' not in html
        resp = await client.get("/api/dashboard/views/tasks?namespace=b",
                                headers=bearer(READER))
        assert resp.status == 403
        assert await error_of(resp) == ("reader may not list agenttasks.agenttasks.io in "
                                        "namespace 'b'")
        resp = await client.get("/api/dashboard/views/tasks", headers=bearer(ADMIN))
        assert "secret" in (await resp.json())["html"]
        for bad in ("?namespace=Not_A_Namespace", "?phase=Sleeping"):
            resp = await client.get("/api/dashboard/views/tasks" + bad, headers=bearer(ADMIN))
            assert resp.status == 400

    run(world, check)


def test_task_detail_checks_get_and_events_separately() -> None:
    world = World()

    async def check(client: TestClient[Any, Any]) -> None:
        url = "/api/dashboard/views/task?namespace=a&name=t1"
        html = (await (await client.get(url, headers=bearer(WRITER))).json())["html"]
        assert "t1 started" in html and "<svg" in html
        html = (await (await client.get(url, headers=bearer(READER))).json())["html"]
        assert "t1 started" not in html and "You may not list events" in html
        world.put(task("a", "t1", Phase.IN_PROGRESS, display_name="First <task>"))
        world.put(task("a", "after", Phase.PENDING, display_name="Runs after", depends_on=["t1"]))
        html = (await (await client.get(url, headers=bearer(READER))).json())["html"]
        assert '<text x="10" y="17">Runs after</text>' in html  # a neighbour in the graph
        resp = await client.get("/api/dashboard/views/task?namespace=b&name=secret",
                                headers=bearer(READER))
        assert resp.status == 403
        resp = await client.get("/api/dashboard/views/task?namespace=a&name=nope",
                                headers=bearer(READER))
        assert resp.status == 404

    run(world, check)


def test_actions_are_authorized_for_the_exact_object() -> None:
    world = World()

    async def check(client: TestClient[Any, Any]) -> None:
        resp = await client.post("/api/dashboard/tasks/a/t1/pause", headers=bearer(READER))
        assert resp.status == 403
        assert await error_of(resp) == ("reader may not patch agenttasks.agenttasks.io 't1' "
                                        "in namespace 'a'")
        assert world.kube.patches == []
        resp = await client.post("/api/dashboard/tasks/a/t1/pause")
        assert resp.status == 401 and world.kube.patches == []
        resp = await client.post("/api/dashboard/tasks/a/t1/pause", headers=bearer(WRITER))
        assert resp.status == 200 and (await resp.json())["message"] == "Paused a/t1."
        assert world.kube.patches == [("agenttasks", "a", "t1", {"spec": {"paused": True}})]
        review = world.kube.access_reviews[-1]["spec"]
        assert review["user"] == "writer" and review["resourceAttributes"] == {
            "verb": "patch", "group": "agenttasks.io", "resource": "agenttasks",
            "namespace": "a", "name": "t1"}
        resp = await client.post("/api/dashboard/tasks/a/done/cancel", headers=bearer(WRITER))
        assert resp.status == 409
        done = world.kube.objects[("agenttasks", "a", "done")]
        done["metadata"]["labels"] = {"team": "x", "agenttasks.io/schedule": "nightly"}
        done["spec"]["paused"] = True
        resp = await client.post("/api/dashboard/tasks/a/done/rerun", headers=bearer(WRITER))
        assert resp.status == 201
        created = world.kube.created[0]
        new = created["metadata"]["name"]
        assert re.fullmatch(r"done-rerun-[a-z0-9]{5}", new)  # named here, not generateName
        assert (await resp.json())["url"] == f"/tasks/a/{new}"
        # the old task's own labels stay, the operator's go; neither paused nor cancelled
        assert created["metadata"]["labels"] == {"team": "x", "agenttasks.io/rerun-of": "done"}
        assert created["metadata"]["annotations"]["agenttasks.io/requested-by"] == "writer"
        assert created["spec"] == {"template": TEMPLATE}
        resp = await client.post("/api/dashboard/tasks/a/t1/delete", headers=bearer(WRITER))
        assert resp.status == 404
        resp = await client.post("/api/dashboard/tasks/a/gone/pause", headers=bearer(WRITER))
        assert resp.status == 404
        world.kube.rules.add(("writer", "patch", "agenttasks", "unwatched"))
        resp = await client.post("/api/dashboard/tasks/unwatched/x/pause",
                                 headers=bearer(WRITER))
        assert resp.status == 404
        assert len(world.kube.patches) == 1

    run(world, check)


def test_a_rerun_needs_the_rights_its_template_needs() -> None:
    world = World()
    world.kube.rules.discard(("writer", "create", "jobs", "a"))

    async def check(client: TestClient[Any, Any]) -> None:
        resp = await client.post("/api/dashboard/tasks/a/done/rerun", headers=bearer(WRITER))
        assert resp.status == 403
        assert await error_of(resp) == "writer may not create jobs.batch in namespace 'a'"
        world.kube.rules.add(("writer", "create", "jobs", "a"))
        done = world.kube.objects[("agenttasks", "a", "done")]
        done["spec"]["template"] = {**TEMPLATE, "spec": {**TEMPLATE["spec"],
                                                         "serviceAccountName": "deployer"}}
        world.now += ANSWER_TTL_S
        resp = await client.post("/api/dashboard/tasks/a/done/rerun", headers=bearer(WRITER))
        assert resp.status == 403
        assert await error_of(resp) == ("writer may not impersonate serviceaccounts "
                                        "'deployer' in namespace 'a'")
        world.kube.rules.add(("writer", "impersonate", "serviceaccounts", "a"))
        world.now += ANSWER_TTL_S
        resp = await client.post("/api/dashboard/tasks/a/done/rerun", headers=bearer(WRITER))
        assert resp.status == 201
        assert len(world.kube.created) == 1

    run(world, check)


def test_run_now_needs_the_rights_of_the_schedules_template() -> None:
    world = World()
    world.kube.objects[("agenttaskschedules", "a", "daily")] = {
        "metadata": {}, "spec": {"taskTemplate": {"spec": {"template": TEMPLATE}}}}
    world.kube.rules.discard(("writer", "create", "jobs", "a"))

    async def check(client: TestClient[Any, Any]) -> None:
        resp = await client.post("/api/dashboard/schedules/a/daily/run-now",
                                 headers=bearer(WRITER))
        assert resp.status == 403
        assert await error_of(resp) == "writer may not create jobs.batch in namespace 'a'"
        assert world.kube.patches == []

    run(world, check)


def test_run_now_sets_a_fresh_token() -> None:
    world = World()
    world.kube.objects[("agenttaskschedules", "a", "daily")] = {"metadata": {}}

    async def check(client: TestClient[Any, Any]) -> None:
        resp = await client.post("/api/dashboard/schedules/a/daily/run-now",
                                 headers=bearer(READER))
        assert resp.status == 403
        tokens = set()
        for _ in range(2):
            resp = await client.post("/api/dashboard/schedules/a/daily/run-now",
                                     headers=bearer(WRITER))
            assert resp.status == 200
            tokens.add((await resp.json())["token"])
        assert len(tokens) == 2
        assert [p[:3] for p in world.kube.patches] == [("agenttaskschedules", "a", "daily")] * 2
        assert world.kube.patches[0][3]["metadata"]["annotations"]["agenttasks.io/run-now"] in (
            tokens)
        body = await resp.json()
        assert body["task"] == manual_task_name("daily", body["token"])

    run(world, check)


def test_read_only_mode_reads_without_token_but_never_acts() -> None:
    world = World(read_only=True)

    async def check(client: TestClient[Any, Any]) -> None:
        resp = await client.get("/api/dashboard/whoami")
        assert (await resp.json())["anonymous"] is True
        resp = await client.get("/api/dashboard/views/tasks")
        assert resp.status == 200 and "secret" in (await resp.json())["html"]
        resp = await client.post("/api/dashboard/tasks/a/t1/pause")
        assert resp.status == 401 and world.kube.patches == []
        resp = await client.post("/api/dashboard/tasks/a/t1/pause", headers=bearer(READER))
        assert resp.status == 403 and world.kube.patches == []
        assert 'data-read-only="true"' in await (await client.get("/")).text()

    run(world, check)


async def next_event(resp: ClientResponse) -> tuple[str, dict[str, Any]]:
    event, data = "", ""
    while True:
        line = (await asyncio.wait_for(resp.content.readline(), 5)).decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif not line and event:
            return event, json.loads(data)


def test_stream_sends_changes_and_stops_when_access_is_revoked(
        caplog: pytest.LogCaptureFixture) -> None:
    world = World()

    async def check(client: TestClient[Any, Any]) -> None:
        resp = await client.get("/api/dashboard/stream/tasks?namespace=a",
                                headers=bearer(READER))
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        event, data = await next_event(resp)
        assert event == "view" and 'data-name="t1" data-phase="InProgress"' in data["html"]
        world.put(task("a", "t1", Phase.COMPLETED, rv="2"))
        event, data = await next_event(resp)
        assert event == "view" and 'data-name="t1" data-phase="Completed"' in data["html"]
        world.kube.rules.discard(("reader", "list", "agenttasks", "a"))
        world.now += ANSWER_TTL_S  # the kept answer expires: the revocation is seen
        world.put(task("a", "t1", Phase.COMPLETED, rv="3"))
        event, data = await next_event(resp)
        assert event == "failure" and data["status"] == 403
        resp.close()

    with caplog.at_level(logging.DEBUG):
        run(world, check)
    for token in (WRITER, READER, ADMIN):
        assert token not in caplog.text


def test_open_streams_do_not_hold_up_shutdown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard_module, "ALIVE_S", 10.0)  # only shutdown can end the wait
    world = World()

    async def main() -> None:
        client: TestClient[Any, Any] = TestClient(TestServer(build_app(
            dashboard=world.dashboard)))
        await client.start_server()
        resp = await client.get("/api/dashboard/stream/tasks", headers=bearer(ADMIN))
        assert (await next_event(resp))[0] == "view"
        started = asyncio.get_running_loop().time()
        await client.server.close()  # the browser still holds the stream open
        assert asyncio.get_running_loop().time() - started < 3
        resp.close()
        await client.close()

    asyncio.run(main())


async def open_stream(client: TestClient[Any, Any], *token: str) -> ClientResponse:
    headers = bearer(token[0]) if token else {}
    return await client.get("/api/dashboard/stream/tasks?namespace=a", headers=headers)


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition never held")


def test_streams_are_capped_per_user_and_only_after_the_access_check(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard_module, "ALIVE_S", 0.05)  # a closed stream is seen soon
    world = World(slots=StreamSlots(total=4, per_user=2, anonymous=1))
    world.kube.users["nobody-token"] = "nobody"  # valid, with no rights at all

    async def check(client: TestClient[Any, Any]) -> None:
        slots = world.dashboard.slots
        for _ in range(6):  # no rights: refused before it could hold a slot
            assert (await open_stream(client, "nobody-token")).status == 403
        assert slots.held("nobody") == 0 and slots.open_streams == 0
        held = [await open_stream(client, READER) for _ in range(2)]
        assert [(await next_event(resp))[0] for resp in held] == ["view", "view"]
        over = await open_stream(client, READER)
        assert over.status == 429
        assert await error_of(over) == ("reader already has 2 live dashboards open, the most "
                                        "one user may have; close one and reload")
        writer = await open_stream(client, WRITER)  # a share of their own
        assert writer.status == 200 and (await next_event(writer))[0] == "view"
        held[0].close()  # the browser closes a tab: its slot comes back
        await until(lambda: slots.held("reader") == 1)
        again = await open_stream(client, READER)
        assert again.status == 200
        for resp in (held[1], writer, again):
            resp.close()
        await until(lambda: slots.open_streams == 0)
        assert len(slots) == 0

    run(world, check)


def test_anonymous_readers_share_one_stream_budget() -> None:
    world = World(read_only=True, slots=StreamSlots(total=4, per_user=2, anonymous=1))

    async def check(client: TestClient[Any, Any]) -> None:
        first = await open_stream(client)
        assert first.status == 200 and (await next_event(first))[0] == "view"
        over = await open_stream(client)
        assert over.status == 429 and "anonymous readers already have 1" in await error_of(over)
        signed_in = await open_stream(client, READER)  # a token has its own share
        assert signed_in.status == 200
        first.close()
        signed_in.close()

    run(world, check)


def test_the_total_of_streams_is_503_when_full() -> None:
    world = World(slots=StreamSlots(total=1, per_user=2, anonymous=1))

    async def check(client: TestClient[Any, Any]) -> None:
        first = await open_stream(client, READER)
        assert first.status == 200
        over = await open_stream(client, WRITER)
        assert over.status == 503 and "too many open dashboards" in await error_of(over)
        first.close()

    run(world, check)


def test_new_tokens_are_throttled_by_the_peer_address_not_a_header() -> None:
    world = World()
    world.dashboard.gate.throttle = TokenReviewThrottle(per_minute=3)

    async def check(client: TestClient[Any, Any]) -> None:
        statuses = []
        for i in range(10):  # each claims another address: the TCP peer is what counts
            resp = await client.get("/api/dashboard/whoami", headers={
                **bearer(f"made-up-{i}"), "X-Forwarded-For": f"10.1.0.{i}"})
            statuses.append(resp.status)
        assert statuses == [401] * 3 + [429] * 7
        assert resp.headers["Retry-After"] == "20"
        assert "try again in 20 s" in await error_of(resp)
        assert world.dashboard.gate.token_reviews_sent == 3
        resp = await client.get("/api/dashboard/whoami", headers=bearer(READER))
        assert resp.status == 429  # a new token from the same address waits too
        resp = await client.post("/api/dashboard/tasks/a/t1/pause", headers=bearer(WRITER))
        assert resp.status == 429 and world.kube.patches == []

    run(world, check)
