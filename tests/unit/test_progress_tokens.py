"""Progress tokens and the Secret cache over a fake client that counts its reads: the
token's Secret is trusted only when the task controls it, misses and finished tasks cost no
read, and every map is bounded (filled past its capacity, then drained)."""

from __future__ import annotations

import asyncio
import base64
import copy
import itertools
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from agenttasks.api.task import AgentTaskStatus
from agenttasks.core.bounded import BoundedMap
from agenttasks.core.facts import TaskFacts
from agenttasks.kube.client import ApiError, Kube
from agenttasks.kube.progress_tokens import ProgressTokens
from agenttasks.kube.secrets import SecretCache, SingleFlight
from agenttasks.manifests.progress_secret import (
    controlling_task_uid,
    foreign_secret_event,
    secret_token,
)

NS = "team"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
JSON = dict[str, Any]


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def task(name: str = "t", uid: str = "uid-t") -> TaskFacts:
    return TaskFacts(NS, name, uid, 1, T0, None, AgentTaskStatus())


def owner(name: str, uid: str, kind: str = "AgentTask",
          api_version: str = "agenttasks.io/v1alpha1") -> JSON:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
            "controller": True}


def secret(name: str, token: str, attempt: int, refs: list[JSON]) -> JSON:
    return {"metadata": {"name": name, "namespace": NS, "resourceVersion": "1",
                         "annotations": {"agenttasks.io/attempt": str(attempt)},
                         "ownerReferences": refs},
            "data": {"token": base64.b64encode(token.encode()).decode()}}


class FakeSecrets:
    """Secrets in memory, like the API server: create conflicts, patch checks the
    resourceVersion it is given. Every call is counted."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], JSON] = {}
        self.calls: list[tuple[str, str]] = []
        self.revisions = itertools.count(2)
        self.read_gate: asyncio.Event | None = None  # reads wait on it when set

    def reads(self) -> int:
        return sum(1 for verb, _ in self.calls if verb == "read")

    async def create_secret(self, body: JSON) -> JSON:
        meta = body["metadata"]
        self.calls.append(("create", meta["name"]))
        key = (meta["namespace"], meta["name"])
        if key in self.secrets:
            raise ApiError(409, "AlreadyExists", "secrets already exists")
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(next(self.revisions))
        stored["data"] = {k: base64.b64encode(v.encode()).decode()
                          for k, v in stored.pop("stringData").items()}
        self.secrets[key] = stored
        return stored

    async def read_secret(self, namespace: str, name: str) -> JSON | None:
        self.calls.append(("read", name))
        if self.read_gate is not None:
            await self.read_gate.wait()
        found = self.secrets.get((namespace, name))
        return copy.deepcopy(found) if found else None

    async def patch_secret(self, namespace: str, name: str, patch: JSON) -> JSON:
        self.calls.append(("patch", name))
        stored = self.secrets[(namespace, name)]
        if patch["metadata"].get("resourceVersion") != stored["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified")
        stored["metadata"]["annotations"].update(patch["metadata"]["annotations"])
        stored["data"].update({k: base64.b64encode(v.encode()).decode()
                               for k, v in patch["stringData"].items()})
        stored["metadata"]["resourceVersion"] = str(next(self.revisions))
        return stored


def tokens_over(fake: FakeSecrets, **kwargs: Any) -> ProgressTokens:
    return ProgressTokens(cast(Kube, fake), **kwargs)


# --- the owner checks ---------------------------------------------------------------------

def test_a_new_attempt_gets_a_token_held_in_memory() -> None:
    async def scenario() -> None:
        fake = FakeSecrets()
        tokens = tokens_over(fake)
        assert await tokens.ensure(task(), 1) is True
        stored = fake.secrets[(NS, "t-progress")]
        assert controlling_task_uid(stored, "t") == "uid-t"
        assert await tokens.current(NS, "t", uid="uid-t") == secret_token(stored)
        assert fake.reads() == 0  # answered from memory

    run(scenario)


@pytest.mark.parametrize("refs", [
    [],                                                         # nobody's
    [owner("t", "uid-of-another-t")],                           # a task of that name, before
    [owner("t", "uid-t", kind="ConfigMap", api_version="v1")],  # the right uid, wrong kind
    [owner("other", "uid-t")],                                  # the right uid, wrong name
])
def test_a_secret_the_task_does_not_control_is_neither_changed_nor_used(
        refs: list[JSON]) -> None:
    async def scenario() -> None:
        fake = FakeSecrets()
        planted = secret("t-progress", "attacker-knows-this", 1, refs)
        fake.secrets[(NS, "t-progress")] = copy.deepcopy(planted)
        tokens = tokens_over(fake)
        assert await tokens.ensure(task(), 1) is False
        assert fake.secrets[(NS, "t-progress")] == planted
        assert ("patch", "t-progress") not in fake.calls
        reads = fake.reads()
        for uid in ("uid-t", None):
            assert await tokens.current(NS, "t", uid=uid) is None
        assert fake.reads() == reads  # refused from memory: the Secret is not read again

    run(scenario)


def test_the_tasks_own_secret_of_an_earlier_attempt_gets_a_new_token() -> None:
    async def scenario() -> None:
        fake = FakeSecrets()
        fake.secrets[(NS, "t-progress")] = secret("t-progress", "old", 1,
                                                  [owner("t", "uid-t")])
        tokens = tokens_over(fake)
        assert await tokens.ensure(task(), 2) is True
        attempt, token = secret_token(fake.secrets[(NS, "t-progress")]) or (0, "")
        assert attempt == 2 and token != "old"
        assert await tokens.current(NS, "t", uid="uid-t") == (2, token)

    run(scenario)


def test_the_tasks_own_secret_of_this_attempt_keeps_its_token() -> None:
    """A restart between the Secret and the Job: the pod may already hold the token."""
    async def scenario() -> None:
        fake = FakeSecrets()
        fake.secrets[(NS, "t-progress")] = secret("t-progress", "kept", 3,
                                                  [owner("t", "uid-t")])
        tokens = tokens_over(fake)
        assert await tokens.ensure(task(), 3) is True
        assert ("patch", "t-progress") not in fake.calls
        assert await tokens.current(NS, "t", uid="uid-t") == (3, "kept")

    run(scenario)


def test_a_secret_replaced_between_read_and_patch_is_not_overwritten() -> None:
    async def scenario() -> None:
        fake = FakeSecrets()
        fake.secrets[(NS, "t-progress")] = secret("t-progress", "old", 1,
                                                  [owner("t", "uid-t")])
        original_read = fake.read_secret

        async def read_then_replace(namespace: str, name: str) -> JSON | None:
            body = await original_read(namespace, name)
            fake.secrets[(NS, name)] = secret(name, "planted", 1, [])
            fake.secrets[(NS, name)]["metadata"]["resourceVersion"] = "99"
            return body

        fake.read_secret = read_then_replace  # type: ignore[method-assign]
        with pytest.raises(ApiError) as raised:
            await tokens_over(fake).ensure(task(), 2)
        assert raised.value.conflict
        assert secret_token(fake.secrets[(NS, "t-progress")]) == (1, "planted")

    run(scenario)


def test_after_a_restart_the_secret_is_read_once_and_only_trusted_for_its_owner() -> None:
    async def scenario() -> None:
        fake = FakeSecrets()
        fake.secrets[(NS, "t-progress")] = secret("t-progress", "tok", 2,
                                                  [owner("t", "uid-t")])
        tokens = tokens_over(fake)  # a fresh process: nothing in memory
        assert await tokens.current(NS, "t", uid="uid-t") == (2, "tok")
        assert await tokens.current(NS, "t", uid="uid-t") == (2, "tok")
        assert fake.reads() == 1
        # A task of the same name created again (another uid) gets nothing from it.
        assert await tokens.current(NS, "t", uid="uid-of-the-new-t") is None
        assert fake.reads() == 1

    run(scenario)


def test_misses_are_cached_for_their_ttl() -> None:
    async def scenario() -> None:
        fake = FakeSecrets()
        fake.secrets[(NS, "t-progress")] = secret("t-progress", "planted", 1, [])
        now = [100.0]
        tokens = tokens_over(fake, miss_ttl_s=10.0, clock=lambda: now[0])
        for _ in range(50):
            assert await tokens.current(NS, "t") is None
        assert await tokens.current(NS, "absent") is None
        assert fake.reads() == 2
        now[0] = 109.9
        assert await tokens.current(NS, "t") is None
        assert fake.reads() == 2
        now[0] = 110.0
        assert await tokens.current(NS, "t") is None
        assert fake.reads() == 3

    run(scenario)


def test_a_finished_tasks_token_is_refused_without_a_read_until_its_next_attempt() -> None:
    async def scenario() -> None:
        fake = FakeSecrets()
        tokens = tokens_over(fake)
        await tokens.ensure(task(), 1)
        tokens.forget(NS, "t")
        # The Secret is still there, valid and the task's: it is not read and not trusted.
        assert secret_token(fake.secrets[(NS, "t-progress")]) is not None
        assert await tokens.current(NS, "t", uid="uid-t") is None
        assert await tokens.current(NS, "t") is None
        assert fake.reads() == 0
        # A new task of that name (the old one deleted) starts: it reports again.
        assert await tokens.ensure(task(uid="uid-t2"), 1) is False  # old Secret not GC'd yet
        assert await tokens.current(NS, "t", uid="uid-t2") is None
        del fake.secrets[(NS, "t-progress")]  # the garbage collector took it
        assert await tokens.ensure(task(uid="uid-t2"), 2) is True
        assert (await tokens.current(NS, "t", uid="uid-t2") or (0, ""))[0] == 2

    run(scenario)


def test_a_task_finishing_while_its_secret_is_read_stays_refused() -> None:
    async def scenario() -> None:
        fake = FakeSecrets()
        fake.secrets[(NS, "t-progress")] = secret("t-progress", "tok", 1,
                                                  [owner("t", "uid-t")])
        fake.read_gate = asyncio.Event()
        tokens = tokens_over(fake)
        reading = asyncio.create_task(tokens.current(NS, "t", uid="uid-t"))
        await asyncio.sleep(0)
        tokens.forget(NS, "t")
        fake.read_gate.set()
        assert await reading is None
        assert await tokens.current(NS, "t", uid="uid-t") is None
        assert fake.reads() == 1

    run(scenario)


def test_concurrent_reports_for_one_task_share_one_read() -> None:
    async def scenario() -> None:
        fake = FakeSecrets()
        fake.secrets[(NS, "t-progress")] = secret("t-progress", "tok", 1,
                                                  [owner("t", "uid-t")])
        fake.read_gate = asyncio.Event()
        tokens = tokens_over(fake)
        waiting = [asyncio.create_task(tokens.current(NS, "t", uid="uid-t"))
                   for _ in range(20)]
        await asyncio.sleep(0)
        assert tokens.sizes()[3] == 1
        fake.read_gate.set()
        assert await asyncio.gather(*waiting) == [(1, "tok")] * 20
        assert fake.reads() == 1
        assert tokens.sizes()[3] == 0  # nothing kept of the read once it is done

    run(scenario)


# --- the bounded maps: filled past capacity, then drained ---------------------------------

def test_the_token_maps_are_bounded_and_drain() -> None:
    async def scenario() -> None:
        fake = FakeSecrets()
        now = [0.0]
        tokens = tokens_over(fake, max_tokens=5, max_misses=4, max_closed=3,
                             miss_ttl_s=10.0, clock=lambda: now[0])
        for i in range(12):
            await tokens.ensure(task(f"t{i}", f"uid-{i}"), 1)
        for i in range(12):
            assert await tokens.current(NS, f"absent{i}") is None
        assert tokens.sizes() == (5, 4, 0, 0)
        # An evicted token is read again from its Secret, owner-checked: nothing is lost.
        reads = fake.reads()
        assert await tokens.current(NS, "t0", uid="uid-0") is not None
        assert fake.reads() == reads + 1
        for i in range(12):
            tokens.forget(NS, f"t{i}")
            tokens.forget(NS, f"absent{i}")
        assert tokens.sizes() == (0, 0, 3, 0)
        for i in range(12):  # a new attempt of each reopens it
            await tokens.ensure(task(f"t{i}", f"uid-{i}"), 2)
            await tokens.ensure(task(f"absent{i}", f"uid-a{i}"), 1)
        assert tokens.sizes() == (5, 0, 0, 0)

    run(scenario)


def test_the_bounded_map_drops_the_oldest_and_drains() -> None:
    m: BoundedMap[int, str] = BoundedMap(3)
    for i in range(10):
        m.put(i, str(i))
    assert list(m) == [7, 8, 9] and len(m) == 3
    m.put(7, "again")  # put again: now the newest
    m.put(10, "10")
    assert list(m) == [9, 7, 10]
    assert m.full_without(11) and not m.full_without(9)
    for key in list(m):
        assert m.pop(key) is not None
    assert len(m) == 0 and m.pop(1) is None and not m.full_without(1)
    with pytest.raises(ValueError):
        BoundedMap[int, int](0)


def test_the_secret_cache_is_bounded_and_keeps_no_lock_per_secret() -> None:
    async def scenario() -> None:
        fake = FakeSecrets()
        for i in range(10):
            fake.secrets[(NS, f"s{i}")] = {"metadata": {}, "data": {"k": "dg=="}}
        now = [0.0]
        cache = SecretCache(cast(Kube, fake), ttl_s=10.0, capacity=4, clock=lambda: now[0])
        for i in range(10):
            assert (await cache.value(NS, f"s{i}", "k"))[1] == b"v"
        assert cache.sizes() == (4, 0)
        reads = fake.reads()
        await cache.value(NS, "s9", "k")  # still cached
        await cache.value(NS, "s0", "k")  # evicted: read again
        assert fake.reads() == reads + 1
        now[0] = 10.0  # everything stale: each is read once more, the size stays bounded
        for i in range(10):
            await cache.value(NS, f"s{i}", "k")
        assert cache.sizes() == (4, 0)

    run(scenario)


def test_single_flight_shares_one_call_and_its_failure() -> None:
    async def scenario() -> None:
        flight: SingleFlight[str, int] = SingleFlight()
        gate, calls = asyncio.Event(), [0]

        async def failing() -> int:
            calls[0] += 1
            await gate.wait()
            raise ApiError(500, "InternalError", "boom")

        waiting = [asyncio.create_task(flight.run("k", failing)) for _ in range(5)]
        await asyncio.sleep(0)
        gate.set()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert calls == [1] and all(isinstance(r, ApiError) for r in results)
        assert len(flight) == 0

    run(scenario)


def test_a_cancelled_read_lets_the_waiters_read_for_themselves() -> None:
    async def scenario() -> None:
        flight: SingleFlight[str, int] = SingleFlight()
        gate, calls = asyncio.Event(), [0]

        async def call() -> int:
            calls[0] += 1
            await gate.wait()
            return calls[0]

        first = asyncio.create_task(flight.run("k", call))
        await asyncio.sleep(0)
        second = asyncio.create_task(flight.run("k", call))
        await asyncio.sleep(0)
        first.cancel()
        await asyncio.sleep(0)
        gate.set()
        assert await second == 2
        assert first.cancelled() and len(flight) == 0

    run(scenario)


# --- pure parts ---------------------------------------------------------------------------

def test_secret_token_refuses_garbled_content() -> None:
    good = secret("t-progress", "tok", 1, [])
    assert secret_token(good) == (1, "tok")
    assert secret_token({**good, "data": {"token": "!!not base64"}}) is None
    assert secret_token({**good, "data": {}}) is None
    assert secret_token({**good, "data": {"token": ""}}) is None
    no_attempt = copy.deepcopy(good)
    no_attempt["metadata"]["annotations"] = {}
    assert secret_token(no_attempt) is None


def test_only_the_controller_reference_counts() -> None:
    not_controller = {**owner("t", "uid-t"), "controller": False}
    assert controlling_task_uid(secret("x", "t", 1, [not_controller]), "t") is None
    assert controlling_task_uid(
        secret("x", "t", 1, [not_controller, owner("t", "uid-t")]), "t") == "uid-t"
    event = foreign_secret_event(task())
    assert event.type == "Warning" and "t-progress" in event.message
