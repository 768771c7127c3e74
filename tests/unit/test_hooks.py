"""Webhook deliveries over HTTP with a fake API server: the order signature -> rate limit,
one answer for unknown and unsigned, github body-hash dedup, the owner checks, the body's
time limit and the filter's answers. Signatures are computed here, never by the code under
test."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from agenttasks.api.meta import API_VERSION
from agenttasks.core.filters import Outcome
from agenttasks.core.triggers import SecretState, TriggerFacts
from agenttasks.inbox.delivery_counts import DeliveryCounts
from agenttasks.kube.client import ApiError
from agenttasks.manifests.triggers import (
    ANNOTATION_PAYLOAD,
    INLINE_PAYLOAD_MAX_BYTES,
    PAYLOAD_VOLUME,
    trigger_facts,
)
from agenttasks.web.filter_runner import Failure, Verdict
from agenttasks.web.hooks import NOT_FOUND, DeliveryService
from agenttasks.web.server import build_app
from agenttasks.web.turns import Turns

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SECRET = b"hook-secret"
BODY = b'{"action": "opened", "number": 7}'
# Over the inline bound: its payload goes to a ConfigMap the task owns.
LARGE = json.dumps({"action": "opened", "blob": "x" * INLINE_PAYLOAD_MAX_BYTES}).encode()
TRIGGER_UID = "uid-of-trigger"
Client = TestClient[Any, Any]


def github_headers(body: bytes, delivery: str, secret: bytes = SECRET) -> dict[str, str]:
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": delivery}


def make_trigger(name: str = "gh", **spec: Any) -> TriggerFacts:
    return trigger_facts({
        "metadata": {"namespace": "a", "name": name, "uid": TRIGGER_UID, "generation": 1},
        "spec": {"secretRef": {"name": "s", "key": "k"}, "signature": "github", **spec,
                 "taskTemplate": {"spec": {"template": {"spec": {
                     "containers": [{"name": "c", "image": "busybox"}]}}}}}})


class FakeKube:
    """Our objects by (plural, namespace, name); creating gives a uid and a timestamp."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.deleted: list[str] = []
        self.events: list[tuple[str, str]] = []
        self.now = T0

    def put(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        meta = body["metadata"]
        key = (plural, meta["namespace"], meta["name"])
        if key in self.objects:
            raise ApiError(409, "Conflict", "already exists")
        meta.setdefault("uid", f"uid-{len(self.objects)}")
        meta.setdefault("creationTimestamp", self.now.strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.objects[key] = body
        return body

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((plural, namespace, name))

    async def create_object(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.put(plural, body)

    async def delete_object(self, plural: str, namespace: str, name: str) -> None:
        self.deleted.append(name)
        self.objects.pop((plural, namespace, name), None)

    async def list_objects(self, plural: str, namespace: str, label_selector: str = ""
                           ) -> dict[str, Any]:
        wanted = dict(part.split("=", 1) for part in label_selector.split(",") if part)
        items = [o for (p, ns, _n), o in self.objects.items() if p == plural and ns == namespace
                 and wanted.items() <= (o["metadata"].get("labels") or {}).items()]
        return {"items": items}

    async def create_config_map(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.put("configmaps", body)

    async def get_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(("configmaps", namespace, name))

    async def emit(self, involved: dict[str, Any], type_: str, reason: str,
                   message: str) -> None:
        self.events.append((reason, message))

    def tasks(self) -> list[str]:
        return sorted(n for (p, _ns, n) in self.objects if p == "agenttasks")


class FakeSecrets:
    async def value(self, namespace: str, name: str, key: str
                    ) -> tuple[SecretState, bytes | None]:
        return SecretState.FOUND, SECRET


class FixedFilters:
    """A filter runner that answers what the test says (the real one: test_filter_runner)."""

    timeout = 2.0

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        self.calls = 0

    async def run(self, trigger: tuple[str, str], expression: str, body: bytes) -> Verdict:
        self.calls += 1
        return self.verdict


class World:
    def __init__(self, trigger: TriggerFacts, filters: FixedFilters | None = None) -> None:
        self.kube = FakeKube()
        self.trigger = trigger
        self.counts = DeliveryCounts()
        # The fakes stand in for Kube, SecretCache and FilterRunner (duck-typed).
        self.service = DeliveryService(
            self.kube, FakeSecrets(), self.lookup, lambda _ns: True,  # type: ignore[arg-type]
            self.counts, clock=lambda: self.kube.now, filters=filters,  # type: ignore[arg-type]
            body_timeout=0.5)

    def lookup(self, key: tuple[str, str]) -> TriggerFacts | None:
        return self.trigger if key == self.trigger.key else None


@asynccontextmanager
async def serve(world: World) -> AsyncIterator[Client]:
    client: Client = TestClient(TestServer(build_app(deliveries=world.service)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def run(world: World, test: Callable[[Client], Awaitable[None]]) -> None:
    async def main() -> None:
        async with serve(world) as client:
            await test(client)

    asyncio.run(main())


async def post(client: Client, body: bytes, headers: dict[str, str], trigger: str = "gh"
               ) -> tuple[int, dict[str, Any]]:
    response = await client.post(f"/hooks/a/{trigger}", data=body, headers=headers)
    return response.status, json.loads(await response.read())


def test_unsigned_floods_do_not_use_up_the_rate_limit() -> None:
    world = World(make_trigger(rateLimit={"perMinute": 2}))

    async def test(client: Client) -> None:
        for i in range(20):
            status, _ = await post(client, BODY, github_headers(BODY, f"x{i}", b"wrong"))
            assert status == 404
        first = await post(client, BODY, github_headers(BODY, "real-1"))
        other = b'{"action": "closed"}'
        second = await post(client, other, github_headers(other, "real-2"))
        third = b'{"action": "edited"}'
        over = await post(client, third, github_headers(third, "real-3"))
        assert (first[0], second[0], over[0]) == (202, 202, 429)

    run(world, test)
    assert len(world.kube.tasks()) == 2


def test_unknown_trigger_and_bad_signature_get_the_same_answer() -> None:
    world = World(make_trigger())

    async def test(client: Client) -> None:
        unknown = await post(client, BODY, github_headers(BODY, "d"), trigger="nope")
        forged = await post(client, BODY, github_headers(BODY, "d", b"wrong"))
        unsigned = await post(client, BODY, {"X-GitHub-Delivery": "d"})
        assert unknown == forged == unsigned == (404, NOT_FOUND)
        # Only the secret's holder learns more: a signed delivery without its id.
        digest = hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()
        status, data = await post(client, BODY, {"X-Hub-Signature-256": f"sha256={digest}"})
        assert status == 401 and "X-GitHub-Delivery" in data["error"]

    run(world, test)
    assert world.kube.tasks() == []


def test_per_trigger_size_limit_is_told_only_to_authentic_senders() -> None:
    world = World(make_trigger(maxPayloadBytes=1000))
    big = json.dumps({"x": "a" * 2000}).encode()

    async def test(client: Client) -> None:
        assert (await post(client, big, github_headers(big, "d", b"wrong")))[0] == 404
        assert (await post(client, big, github_headers(big, "d")))[0] == 413

    run(world, test)


def test_github_replay_under_a_new_delivery_id_is_the_same_task() -> None:
    world = World(make_trigger())

    async def test(client: Client) -> None:
        answers = [await post(client, BODY, github_headers(BODY, d)) for d in ("d1", "d2", "d3")]
        assert [status for status, _ in answers] == [202, 202, 202]
        assert len({data["task"] for _, data in answers}) == 1
        other = b'{"action": "closed"}'
        assert (await post(client, other, github_headers(other, "d4")))[1]["task"] \
            != answers[0][1]["task"]

    run(world, test)
    assert len(world.kube.tasks()) == 2


def test_github_redelivery_after_the_window_is_found_by_its_id() -> None:
    world = World(make_trigger(dedupWindow="10m"))

    async def test(client: Client) -> None:
        first = await post(client, BODY, github_headers(BODY, "d1"))
        world.kube.now = T0 + timedelta(hours=3)  # the body's window is long gone
        again = await post(client, BODY, github_headers(BODY, "d1"))
        assert first == again and first[0] == 202
        # The same body under a new id after the window is a new delivery (docs/trigger.md).
        later = await post(client, BODY, github_headers(BODY, "d2"))
        assert later[0] == 202 and later[1]["task"] != first[1]["task"]

    run(world, test)
    assert len(world.kube.tasks()) == 2


def test_a_task_with_the_trigger_label_but_another_owner_is_not_a_duplicate() -> None:
    world = World(make_trigger())

    async def test(client: Client) -> None:
        status, data = await post(client, BODY, github_headers(BODY, "d1"))
        assert status == 202
        task = world.kube.objects[("agenttasks", "a", data["task"])]
        # Someone else's task under the delivery's name, labelled as if it were ours.
        task["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
        status, _ = await post(client, BODY, github_headers(BODY, "d1"))
        assert status == 503  # the name is taken by a stranger: not counted as delivered

    run(world, test)
    assert world.counts.take(("a", "gh")).duplicate == 0


def test_a_small_payload_rides_in_the_task_and_makes_no_config_map() -> None:
    world = World(make_trigger())

    async def test(client: Client) -> None:
        status, _ = await post(client, BODY, github_headers(BODY, "d1"))
        assert status == 202
        [name] = world.kube.tasks()
        pod = world.kube.objects[("agenttasks", "a", name)]["spec"]["template"]
        assert pod["metadata"]["annotations"][ANNOTATION_PAYLOAD] == BODY.decode()
        [volume] = [v for v in pod["spec"]["volumes"] if v["name"] == PAYLOAD_VOLUME]
        assert volume["downwardAPI"]["items"] == [{"path": "payload.json", "fieldRef": {
            "fieldPath": f"metadata.annotations['{ANNOTATION_PAYLOAD}']"}}]
        env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
        assert env["AGENTTASK_PAYLOAD"] == "/var/run/agenttasks/payload.json"

    run(world, test)
    assert [k for k in world.kube.objects if k[0] == "configmaps"] == []


def test_a_large_payload_goes_to_a_config_map_owned_by_the_task() -> None:
    world = World(make_trigger())

    async def test(client: Client) -> None:
        assert (await post(client, LARGE, github_headers(LARGE, "d1")))[0] == 202

    run(world, test)
    [name] = world.kube.tasks()
    task = world.kube.objects[("agenttasks", "a", name)]
    [config_map] = [o for k, o in world.kube.objects.items() if k[0] == "configmaps"]
    assert config_map["data"]["payload.json"] == LARGE.decode()
    assert config_map["metadata"]["ownerReferences"][0]["uid"] == task["metadata"]["uid"]
    assert ANNOTATION_PAYLOAD not in (task["spec"]["template"].get("metadata") or {}).get(
        "annotations", {})


def test_a_payload_config_map_not_owned_by_the_task_is_never_used() -> None:
    world = World(make_trigger())
    task_name = "gh-"  # filled below, from the first answer

    async def test(client: Client) -> None:
        nonlocal task_name
        # Learn the name this body gets, then start over with a squatter in place.
        _, data = await post(client, LARGE, github_headers(LARGE, "d1"))
        task_name = data["task"]
        world.kube.objects.clear()
        world.kube.put("configmaps", {"metadata": {
            "name": f"{task_name}-payload", "namespace": "a"},
            "data": {"payload.json": '{"action": "evil"}'}})
        status, data = await post(client, LARGE, github_headers(LARGE, "d1"))
        assert status == 503 and "does not belong" in data["error"]

    run(world, test)
    assert world.kube.tasks() == []


def test_a_squatter_racing_the_create_gets_the_new_task_deleted() -> None:
    world = World(make_trigger())
    original = world.kube.create_object

    async def create_then_squat(plural: str, body: dict[str, Any]) -> dict[str, Any]:
        created = await original(plural, body)
        world.kube.put("configmaps", {"metadata": {
            "name": f"{body['metadata']['name']}-payload", "namespace": "a",
            "ownerReferences": [{"apiVersion": API_VERSION, "kind": "AgentTask",
                                 "name": "x", "uid": "not-the-task", "controller": True}]}})
        return created

    world.kube.create_object = create_then_squat  # type: ignore[method-assign]

    async def test(client: Client) -> None:
        assert (await post(client, LARGE, github_headers(LARGE, "d1")))[0] == 503

    run(world, test)
    assert world.kube.tasks() == [] and len(world.kube.deleted) == 1


def test_a_payload_owned_by_the_task_is_reused_on_a_retry() -> None:
    world = World(make_trigger())

    async def test(client: Client) -> None:
        first = await post(client, LARGE, github_headers(LARGE, "d1"))
        again = await post(client, LARGE, github_headers(LARGE, "d1"))
        assert first[0] == again[0] == 202 and first[1] == again[1]

    run(world, test)
    assert world.counts.take(("a", "gh")).duplicate == 1


def test_a_body_slower_than_the_time_limit_is_408() -> None:
    world = World(make_trigger())

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"a":'
        await asyncio.sleep(2)
        yield b"1}"

    async def test(client: Client) -> None:
        response = await client.post("/hooks/a/gh", data=trickle(),
                                     headers=github_headers(b'{"a":1}', "d"))
        assert response.status == 408

    run(world, test)
    assert world.kube.tasks() == []


def test_a_filter_over_its_time_limit_is_422_with_an_event() -> None:
    filters = FixedFilters(Verdict(failure=Failure.TIMED_OUT))
    world = World(make_trigger(filter="body.action == 'opened'"), filters)

    async def test(client: Client) -> None:
        for delivery in ("d1", "d2"):
            status, data = await post(client, BODY, github_headers(BODY, delivery))
            assert status == 422 and "time limit" in data["error"]

    run(world, test)
    assert world.kube.tasks() == []
    assert [reason for reason, _ in world.kube.events] == ["FilterTimedOut"]  # throttled


def test_a_split_receiver_passes_the_filter_event_on_instead_of_posting_it() -> None:
    """The receiver may not create Events: its ``warn`` hands them to the forwarder."""
    filters = FixedFilters(Verdict(failure=Failure.TIMED_OUT))
    world = World(make_trigger(filter="body.action == 'opened'"), filters)
    passed: list[tuple[tuple[str, str], str]] = []

    async def warn(trigger: TriggerFacts, reason: str, message: str) -> None:
        passed.append((trigger.key, reason))

    world.service.warn = warn

    async def test(client: Client) -> None:
        for delivery in ("d1", "d2"):
            assert (await post(client, BODY, github_headers(BODY, delivery)))[0] == 422

    run(world, test)
    assert passed == [(("a", "gh"), "FilterTimedOut")]  # throttled here too
    assert world.kube.events == []


def test_filter_answers() -> None:
    for verdict, expected in [(Verdict(outcome=Outcome.NO_MATCH), 202),
                              (Verdict(outcome=Outcome.MATCH), 202),
                              (Verdict(failure=Failure.BUSY), 503),
                              (Verdict(outcome=Outcome.INVALID), 503)]:
        world = World(make_trigger(filter="body.action == 'opened'"), FixedFilters(verdict))
        answers: list[tuple[int, dict[str, Any]]] = []

        async def test(client: Client) -> None:
            answers.append(await post(client, BODY, github_headers(BODY, "d")))  # noqa: B023

        run(world, test)
        assert answers[0][0] == expected
        assert (answers[0][1].get("filtered") is True) == (verdict.outcome == Outcome.NO_MATCH)
        assert bool(world.kube.tasks()) == (verdict.outcome == Outcome.MATCH)


def test_filters_never_run_for_unsigned_deliveries() -> None:
    filters = FixedFilters(Verdict(outcome=Outcome.MATCH))
    world = World(make_trigger(filter="true"), filters)

    async def test(client: Client) -> None:
        assert (await post(client, BODY, github_headers(BODY, "d", b"wrong")))[0] == 404

    run(world, test)
    assert filters.calls == 0


def held_delivery(client: Client, release: asyncio.Event, delivery: str
                  ) -> asyncio.Future[Any]:
    """A delivery whose body arrives only once ``release`` is set: it holds its turn."""
    async def body() -> AsyncIterator[bytes]:
        yield b'{"a":'
        await release.wait()
        yield b"1}"

    return asyncio.ensure_future(client.post(
        "/hooks/a/gh", data=body(), headers=github_headers(b'{"a":1}', delivery)))


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not check():
            await asyncio.sleep(0.01)


def test_deliveries_beyond_those_running_and_waiting_are_refused() -> None:
    world = World(make_trigger())
    world.service.turns = Turns(running=1, waiting=0)
    world.service.body_timeout = 30.0
    release = asyncio.Event()

    async def test(client: Client) -> None:
        first = held_delivery(client, release, "d1")
        await until(lambda: world.service.turns.running == 1)
        status, data = await post(client, BODY, github_headers(BODY, "d2"))
        assert status == 503 and "too many" in data["error"]
        release.set()
        assert (await first).status == 202
        assert (await post(client, BODY, github_headers(BODY, "d3")))[0] == 202

    run(world, test)


def test_a_delivery_waits_its_turn_for_a_while_then_is_refused() -> None:
    world = World(make_trigger())
    world.service.turns = Turns(running=1, waiting=1, wait_s=0.5)
    world.service.body_timeout = 30.0
    release = asyncio.Event()

    async def test(client: Client) -> None:
        first = held_delivery(client, release, "d1")
        await until(lambda: world.service.turns.running == 1)
        # One may wait: the turn comes when the first is done, and the burst is no 503.
        waiting = asyncio.ensure_future(post(client, BODY, github_headers(BODY, "d2")))
        await until(lambda: world.service.turns.waiting == 1)
        refused = await post(client, BODY, github_headers(BODY, "d3"))  # the queue is full
        assert refused[0] == 503
        release.set()
        assert (await first).status == 202
        assert (await waiting)[0] == 202
        # A wait longer than wait_s is refused: the sender retries, nothing piles up.
        release.clear()
        again = held_delivery(client, release, "d4")
        await until(lambda: world.service.turns.running == 1)
        assert (await post(client, BODY, github_headers(BODY, "d5")))[0] == 503
        assert world.service.turns.waiting == 0
        release.set()
        assert (await again).status == 202

    run(world, test)


def test_a_redelivery_finds_a_foreign_payload_and_refuses() -> None:
    world = World(make_trigger())

    async def test(client: Client) -> None:
        _, data = await post(client, LARGE, github_headers(LARGE, "d1"))
        # A crash left the task without its payload, and someone else took the name.
        payload = world.kube.objects[("configmaps", "a", f"{data['task']}-payload")]
        payload["metadata"]["ownerReferences"] = [{"uid": "someone-else", "controller": True}]
        status, answer = await post(client, LARGE, github_headers(LARGE, "d1"))
        assert status == 503 and "does not belong" in answer["error"]

    run(world, test)
    assert len(world.kube.tasks()) == 1 and world.kube.deleted == []


def test_without_the_right_to_read_configmaps_a_redelivery_is_still_a_duplicate() -> None:
    world = World(make_trigger())

    async def forbidden(namespace: str, name: str) -> dict[str, Any] | None:
        raise ApiError(403, "Forbidden", "configmaps is forbidden")

    world.kube.get_config_map = forbidden  # type: ignore[method-assign]

    async def test(client: Client) -> None:
        first = await post(client, LARGE, github_headers(LARGE, "d1"))
        again = await post(client, LARGE, github_headers(LARGE, "d1"))
        assert first == again and first[0] == 202

    run(world, test)
    assert world.counts.take(("a", "gh")).duplicate == 1
