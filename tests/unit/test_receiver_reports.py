"""A split receiver's delivery counts on their way to the operator, over real HTTP in one
process: the receiver's forwarder posts to the operator's intake (web.count_forwarder,
web.count_intake), which takes them into the operator's inbox only from the receiver's
ServiceAccount. The API server's TokenReview is a fake that knows one token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from agenttasks.core.delivery_reports import MAX_TRIGGERS
from agenttasks.core.triggers import PendingCounts, TriggerFacts
from agenttasks.inbox.delivery_counts import DeliveryCounts
from agenttasks.manifests.triggers import trigger_facts
from agenttasks.web.auth import Gate
from agenttasks.web.count_forwarder import CountForwarder
from agenttasks.web.count_intake import PATH, CountIntake
from agenttasks.web.server import build_app

RECEIVER = "system:serviceaccount:agenttasks-system:agenttasks-receiver"
TOKEN, OTHER_TOKEN = "receiver-token", "someone-elses-token"
AUDIENCE = "agenttasks-operator"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def trigger(namespace: str, name: str) -> TriggerFacts:
    return trigger_facts({"metadata": {"namespace": namespace, "name": name,
                                       "uid": f"uid-{name}", "generation": 1}, "spec": {}})


class FakeReviews:
    """TokenReview: TOKEN is the receiver's, for AUDIENCE only; OTHER_TOKEN is another
    pod's ServiceAccount."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def review_token(self, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        spec = body["spec"]
        users = {TOKEN: RECEIVER, OTHER_TOKEN: "system:serviceaccount:default:default"}
        if spec["token"] not in users or spec.get("audiences") != [AUDIENCE]:
            return {"status": {"authenticated": False}}
        return {"status": {"authenticated": True, "audiences": [AUDIENCE],
                           "user": {"username": users[spec["token"]]}}}

    async def review_access(self, body: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("the intake asks who, never what")


class Operator:
    """The operator's side: its inbox, the triggers it knows, and the Events it posted."""

    def __init__(self) -> None:
        self.counts = DeliveryCounts()
        self.triggers = {t.key: t for t in (trigger("a", "gh"), trigger("a", "other"))}
        self.reviews = FakeReviews()
        self.ready = True
        self.events: list[tuple[str, ...]] = []
        self.now = 1000.0
        self.intake = CountIntake(Gate(self.reviews, audiences=(AUDIENCE,)), RECEIVER,
                                  self.counts, self.triggers.get, lambda ns: ns != "unwatched",
                                  lambda: self.ready, self.emit, clock=lambda: self.now)

    async def emit(self, *event: str) -> None:
        self.events.append(event)


Client = TestClient[Any, Any]


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[Client]:
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def forwarder_to(client: Client, token: str | None = TOKEN, **kwargs: Any) -> CountForwarder:
    async def present() -> str | None:
        return token
    return CountForwarder(DeliveryCounts(), str(client.make_url("")), present, **kwargs)


def run(test: Callable[[Operator, Client], Awaitable[None]]) -> Operator:
    operator = Operator()

    async def main() -> None:
        async with serving(build_app(intake=operator.intake)) as client:
            await test(operator, client)

    asyncio.run(main())
    return operator


def test_counts_reach_the_operators_inbox_and_leave_the_receivers() -> None:
    async def test(operator: Operator, client: Client) -> None:
        forwarder = forwarder_to(client)
        forwarder.counts.count(("a", "gh"), "accepted", T0)
        forwarder.counts.count(("a", "gh"), "duplicate")
        forwarder.counts.count(("a", "other"), "rejected")
        await forwarder.flush()
        await forwarder.close()
        assert len(forwarder.counts) == 0
        assert operator.counts.take_all() == {("a", "gh"): PendingCounts(1, 1, 0, T0),
                                              ("a", "other"): PendingCounts(rejected=1)}
        # Reviewed for the operator's audience, not the API server's.
        assert operator.reviews.bodies[0]["spec"]["audiences"] == [AUDIENCE]

    run(test)


def test_nothing_to_report_sends_nothing() -> None:
    async def test(operator: Operator, client: Client) -> None:
        forwarder = forwarder_to(client)
        await forwarder.flush()
        await forwarder.close()
        assert operator.reviews.bodies == []

    run(test)


def test_only_the_receivers_service_account_may_report() -> None:
    async def test(operator: Operator, client: Client) -> None:
        body = {"counts": [{"namespace": "a", "name": "gh", "accepted": 5}]}
        anonymous = await client.post(PATH, json=body)
        other = await client.post(PATH, json=body,
                                  headers={"Authorization": f"Bearer {OTHER_TOKEN}"})
        forged = await client.post(PATH, json=body, headers={"Authorization": "Bearer x"})
        assert (anonymous.status, other.status, forged.status) == (401, 403, 401)
        assert len(operator.counts) == 0

    run(test)


def test_a_token_for_the_api_server_is_not_one_for_the_operator() -> None:
    operator = Operator()
    operator.intake.gate = Gate(operator.reviews)  # asks without the audience

    async def main() -> None:
        async with serving(build_app(intake=operator.intake)) as client:
            response = await client.post(PATH, json={}, headers={
                "Authorization": f"Bearer {TOKEN}"})
            assert response.status == 401

    asyncio.run(main())


def test_reports_are_checked_before_they_count() -> None:
    async def test(operator: Operator, client: Client) -> None:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        bad = await client.post(PATH, json={"counts": [{"namespace": "a", "name": "gh",
                                                         "accepted": -3}]}, headers=auth)
        assert bad.status == 400
        huge = await client.post(PATH, data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                                 headers=auth)
        assert huge.status == 413
        mixed = await client.post(PATH, headers=auth, json={"counts": [
            {"namespace": "a", "name": "gh", "accepted": 2},
            {"namespace": "a", "name": "gone", "accepted": 1},  # not a trigger we know
            {"namespace": "unwatched", "name": "gh", "accepted": 1}]})
        assert mixed.status == 200
        assert await mixed.json() == {"counted": 1, "dropped": 2}
        assert operator.counts.take_all() == {("a", "gh"): PendingCounts(accepted=2)}

    run(test)


def test_a_replica_that_does_not_act_refuses_and_the_receiver_keeps_its_counts() -> None:
    async def test(operator: Operator, client: Client) -> None:
        forwarder = forwarder_to(client)
        forwarder.counts.count(("a", "gh"), "accepted", T0)
        operator.ready = False
        await forwarder.flush()
        assert len(operator.counts) == 0
        forwarder.counts.count(("a", "gh"), "rejected")  # meanwhile
        operator.ready = True
        await forwarder.flush()
        await forwarder.close()
        assert operator.counts.take_all() == {("a", "gh"): PendingCounts(1, 0, 1, T0)}

    run(test)


def test_an_operator_that_cannot_be_reached_costs_no_counts() -> None:
    async def test(operator: Operator, client: Client) -> None:
        forwarder = forwarder_to(client)
        forwarder.url = "http://127.0.0.1:9" + PATH  # the discard port: nobody listens
        forwarder.counts.count(("a", "gh"), "accepted")
        await forwarder.flush()
        await forwarder.close()
        assert forwarder.counts.take_all() == {("a", "gh"): PendingCounts(accepted=1)}

    run(test)


def test_a_report_that_may_have_arrived_is_not_sent_twice() -> None:
    async def cut_off(request: web.Request) -> web.Response:
        await request.read()
        assert request.transport is not None
        request.transport.close()  # after reading it: the sender cannot tell
        return web.Response()

    async def main() -> None:
        app = web.Application()
        app.router.add_post(PATH, cut_off)
        async with serving(app) as client:
            forwarder = forwarder_to(client)
            forwarder.counts.count(("a", "gh"), "accepted")
            await forwarder.flush()
            await forwarder.close()
            assert len(forwarder.counts) == 0

    asyncio.run(main())


def test_many_triggers_go_in_several_reports() -> None:
    async def test(operator: Operator, client: Client) -> None:
        operator.triggers.update({(f"n{i}", "t"): trigger(f"n{i}", "t")
                                  for i in range(MAX_TRIGGERS * 2 + 5)})
        forwarder = forwarder_to(client)
        for key in operator.triggers:
            forwarder.counts.count(key, "accepted")
        await forwarder.flush()
        await forwarder.close()
        assert len(operator.counts) == len(operator.triggers)
        assert len(operator.reviews.bodies) == 1  # three reports, one TokenReview (cached)

    run(test)


def test_a_filter_notice_becomes_one_event_a_minute_posted_by_the_operator() -> None:
    async def test(operator: Operator, client: Client) -> None:
        forwarder = forwarder_to(client)
        known, unknown = operator.triggers[("a", "gh")], trigger("a", "gone")
        for _ in range(2):
            await forwarder.warn(known, "FilterTimedOut", "ran over 2s")
        await forwarder.warn(unknown, "FilterTimedOut", "ran over 2s")
        await forwarder.flush()
        assert operator.events == [("a", "gh", "uid-gh", "FilterTimedOut", "ran over 2s")]
        operator.now += 61
        await forwarder.warn(known, "FilterTimedOut", "again")
        await forwarder.flush()
        await forwarder.close()
        assert operator.events[-1][-1] == "again" and len(operator.events) == 2

    run(test)


def test_notices_wait_for_an_operator_that_refused() -> None:
    async def test(operator: Operator, client: Client) -> None:
        forwarder = forwarder_to(client)
        await forwarder.warn(operator.triggers[("a", "gh")], "FilterTimedOut", "slow")
        operator.ready = False
        await forwarder.flush()
        operator.ready = True
        assert operator.events == []
        await forwarder.flush()
        await forwarder.close()
        assert [event[3] for event in operator.events] == ["FilterTimedOut"]

    run(test)


def test_without_hooks_or_with_metrics_elsewhere_those_paths_are_404() -> None:
    async def main() -> None:
        async with serving(build_app(serve_metrics=False)) as client:
            hooks = await client.post("/hooks/a/gh", data=b"{}")
            metrics = await client.get("/metrics")
            health = await client.get("/healthz")
            assert (hooks.status, metrics.status, health.status) == (404, 404, 200)
        async with serving(build_app()) as client:
            metrics = await client.get("/metrics")
            assert metrics.status == 200 and "agenttasks_webhook_requests" in \
                await metrics.text()

    asyncio.run(main())
