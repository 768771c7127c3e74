"""The visible queue over HTTP (/api/queue) and on the dashboard (the Queue view), with the
dashboard's fake API server: a TokenReview first, then only the namespaces where the user
may list AgentTasks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from agenttasks.controller.overlay import OverlaidIndex
from agenttasks.controller.schedule_view import ScheduleView
from agenttasks.controller.task_view import TaskView
from agenttasks.core.queue import Candidate, Limits, Running
from agenttasks.core.queue_view import QueueFacts, QueueView, WaitingTask, build
from agenttasks.core.triggers import TriggerFacts
from agenttasks.web.dashboard import Dashboard
from agenttasks.web.queue_endpoint import queue_document
from agenttasks.web.server import build_app
from agenttasks.web.views import Sources

from .http_client import with_client
from .test_dashboard_http import ADMIN, READER, T0, FakeKube, bearer


def queue_view() -> QueueView:
    def waiting(ns: str, name: str, priority: int) -> WaitingTask:
        return WaitingTask(Candidate(ns, name, priority, T0, T0), "queue")

    releases = [T0 - timedelta(seconds=s) for s in range(6)]
    return build(QueueFacts([waiting("a", "mine", 1), waiting("b", "secret", 5),
                             waiting("a", "later", 0)],
                            Running(2, {"a": 1, "b": 1}), Limits(2), releases,
                            T0 - timedelta(minutes=1), T0))


class FixedQueue:
    def current(self) -> QueueView:
        return queue_view()


def run(test: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    view = TaskView()
    view.attach({}, {}, {})
    schedules = ScheduleView()
    schedules.attach({}, {})
    triggers: OverlaidIndex[TriggerFacts] = OverlaidIndex()
    triggers.attach({})
    sources = Sources(view, schedules, triggers, lambda ns: ns != "unwatched",
                      queue=FixedQueue())
    with_client(build_app(dashboard=Dashboard(FakeKube(), sources)), test)


def test_the_document_names_positions_reasons_and_estimates() -> None:
    doc = queue_document(queue_view(), None)
    assert (doc["kind"], doc["queued"], doc["running"]) == ("PendingTaskList", 3, 2)
    # Six releases in the last 5 s: five more in the 5 s since the first.
    assert doc["throughput"] == {"releases": 5, "windowSeconds": 5.0, "perMinute": 60.0}
    first = doc["items"][0]
    # Both namespaces hold a slot: the fair share breaks the tie by name, so a's first task
    # goes first, whatever b's priority (priority counts within a namespace only); every
    # slot is taken and a holds its share, so it waits for its namespace's share.
    assert (first["name"], first["position"], first["reason"], first["releasesAhead"]) == \
        ("mine", 1, "NamespaceShare", 1)
    assert first["eta"] == {"start": "2026-01-01T00:00:01Z", "earliest": "2026-01-01T00:00:00Z",
                            "latest": "2026-01-01T00:00:04Z"}
    assert [i["name"] for i in queue_document(queue_view(), frozenset({"a"}))["items"]] == \
        ["mine", "later"]


def test_only_the_namespaces_the_user_may_list() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        assert (await client.get("/api/queue")).status == 401
        resp = await client.get("/api/queue", headers=bearer(READER))  # may list in a only
        assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
        body = await resp.json()
        assert [(i["namespace"], i["name"], i["position"]) for i in body["items"]] == \
            [("a", "mine", 1), ("a", "later", 3)]  # b's task counts, but is not named
        resp = await client.get("/api/queue?namespace=b", headers=bearer(READER))
        assert resp.status == 403
        resp = await client.get("/api/queue?namespace=a", headers=bearer(READER))
        assert [i["name"] for i in (await resp.json())["items"]] == ["mine", "later"]
        everyone = await (await client.get("/api/queue", headers=bearer(ADMIN))).json()
        assert len(everyone["items"]) == 3
        resp = await client.get("/api/queue?namespace=Not_A_Name", headers=bearer(ADMIN))
        assert resp.status == 400

    run(check)


def test_the_dashboard_queue_view() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        page = await client.get("/queue")
        assert page.status == 200 and 'data-view="queue"' in await page.text()
        resp = await client.get("/api/dashboard/views/queue", headers=bearer(READER))
        assert resp.status == 200
        html = (await resp.json())["html"]
        assert 'data-name="mine"' in html and 'data-name="later"' in html
        assert "secret" not in html
        assert "NamespaceShare" in html and "2026-01-01T00:00:" in html
        assert "Only the namespaces where you may list agenttasks: a." in html

    run(check)
