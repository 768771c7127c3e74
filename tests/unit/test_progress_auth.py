"""Who may report progress: the token's claims read before a review, a review's answer
kept until the token expires, the pod → Job → task binding, and the decision over facts.
The caches run over a fake cluster that counts its calls; each is filled past its bound and
drained."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from agenttasks.api.task import AgentTaskStatus
from agenttasks.core.facts import TaskFacts, TaskSummary, summarize
from agenttasks.core.privilege import UserInfo
from agenttasks.core.progress_auth import (
    Controller,
    PodBinding,
    PodIdentity,
    bind_pod,
    pod_identity,
    reporting_attempt,
    review_ttl,
    token_expiry,
    unverified_claims,
    worth_reviewing,
)
from agenttasks.kube.connection import ApiError
from agenttasks.kube.progress_auth import PodBindings, PodTokenReviews
from agenttasks.manifests.jobs import job_facts
from agenttasks.manifests.progress_token import DEFAULT_AUDIENCE, pod_facts

NS = "team"
AUD = DEFAULT_AUDIENCE
NOW = 1_800_000_000.0  # wall clock of the fake cluster
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
JSON = dict[str, Any]


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def jwt(claims: JSON) -> str:
    """A token shaped like a ServiceAccount JWT (the fake cluster, not a signature, says
    whether it is valid)."""
    def part(value: JSON) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


def pod_body(name: str, uid: str, job: str | None = None, job_uid: str | None = None,
             deleting: bool = False) -> JSON:
    meta: JSON = {"name": name, "namespace": NS, "uid": uid}
    if job:
        meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": job,
                                    "uid": job_uid or f"uid-{job}", "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = "2026-12-01T12:00:09Z"
    return {"metadata": meta}


def job_body(task: str, attempt: int, task_uid: str | None = None,
             finished: bool = False) -> JSON:
    name = f"{task}-{attempt}"
    body: JSON = {"metadata": {
        "name": name, "namespace": NS, "uid": f"uid-{name}",
        "creationTimestamp": "2026-12-01T12:00:01Z",
        "labels": {"agenttasks.io/task": task, "agenttasks.io/attempt": str(attempt)},
        "ownerReferences": [{"apiVersion": "agenttasks.io/v1alpha1", "kind": "AgentTask",
                             "name": task, "uid": task_uid or f"uid-{task}",
                             "controller": True}]}}
    if finished:
        body["status"] = {"conditions": [{"type": "Failed", "status": "True",
                                          "lastTransitionTime": "2026-12-01T12:00:05Z"}]}
    return body


def running(name: str = "t", attempts: int = 1, uid: str | None = None,
            phase: str = "InProgress", reason: str | None = "Running") -> TaskSummary:
    """What the view keeps of a task, as the endpoint reads it."""
    return summarize(TaskFacts(NS, name, uid or f"uid-{name}", 1, T0, None, AgentTaskStatus(
        phase=phase, reason=reason, attempts=attempts, job_name=f"{name}-{attempts}")))


class FakeCluster:
    """TokenReviews, pods and Jobs in memory, like the API server; every call is counted.
    ``gate``, when set, holds every call until it is set."""

    def __init__(self) -> None:
        self.valid: dict[str, JSON] = {}  # token -> the user a review answers
        self.pods: dict[str, JSON] = {}
        self.jobs: dict[str, JSON] = {}
        self.calls: list[str] = []
        self.gate: asyncio.Event | None = None
        self.failing = False
        self._jti = itertools.count(1)

    def mint(self, pod: JSON, audiences: tuple[str, ...] = (AUD,),
             lifetime: float | None = 3600, bound: bool = True) -> str:
        """A TokenRequest for the pod's ServiceAccount, bound to the pod."""
        meta = pod["metadata"]
        claims: JSON = {"aud": list(audiences), "sub": f"system:serviceaccount:{NS}:default",
                        "jti": str(next(self._jti))}
        if lifetime is not None:
            claims["exp"] = int(NOW + lifetime)
        token = jwt(claims)
        extra = {"authentication.kubernetes.io/pod-name": [meta["name"]],
                 "authentication.kubernetes.io/pod-uid": [meta["uid"]]} if bound else {}
        self.valid[token] = {"aud": list(audiences), "user": {
            "username": f"system:serviceaccount:{NS}:default", "uid": "sa-uid",
            "groups": ["system:serviceaccounts"], "extra": extra}}
        return token

    def count(self, verb: str) -> int:
        return self.calls.count(verb)

    async def _call(self, verb: str) -> None:
        self.calls.append(verb)
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            raise ApiError(500, "InternalError", "etcd is away")

    async def review_token(self, body: JSON) -> JSON:
        await self._call("review")
        entry = self.valid.get(body["spec"]["token"])
        wanted = body["spec"].get("audiences") or []
        if entry is None or not set(entry["aud"]) & set(wanted):
            return {**body, "status": {"authenticated": False, "error": "invalid"}}
        return {**body, "status": {"authenticated": True, "user": entry["user"],
                                   "audiences": sorted(set(entry["aud"]) & set(wanted))}}

    async def get_pod(self, namespace: str, name: str) -> JSON | None:
        await self._call("get-pod")
        return self.pods.get(name)

    async def get_job(self, namespace: str, name: str) -> JSON | None:
        await self._call("get-job")
        return self.jobs.get(name)


# --- the token, read before its review ------------------------------------------------------

def test_unverified_claims_only_of_a_jwt_with_an_object_payload() -> None:
    assert unverified_claims(jwt({"exp": 5, "aud": ["a"]})) == {"exp": 5, "aud": ["a"]}
    assert unverified_claims("not-a-token") is None
    assert unverified_claims("a..c") is None
    assert unverified_claims("a.!!!.c") is None
    assert unverified_claims("a.bm90IGpzb24.c") is None  # base64 of "not json"
    assert unverified_claims("a.WzFd.c") is None  # base64 of "[1]": not an object


@pytest.mark.parametrize(("exp", "expected"), [
    (1800000600, 1800000600.0), (12.5, 12.5), (None, None), (True, None), ("1800", None)])
def test_token_expiry(exp: Any, expected: float | None) -> None:
    assert token_expiry({} if exp is None else {"exp": exp}) == expected


def test_only_an_unexpired_jwt_naming_our_audience_is_worth_a_review() -> None:
    assert worth_reviewing({"aud": [AUD, "other"], "exp": NOW + 1}, AUD, NOW)
    assert worth_reviewing({"aud": AUD, "exp": NOW + 1}, AUD, NOW)  # aud may be a string
    assert not worth_reviewing({"aud": ["https://kubernetes.default.svc"], "exp": NOW + 1},
                               AUD, NOW)
    assert not worth_reviewing({"aud": [AUD], "exp": NOW}, AUD, NOW)  # expired
    assert not worth_reviewing({"aud": [AUD]}, AUD, NOW)  # no exp: not a projected token
    assert not worth_reviewing({"aud": {"x": AUD}, "exp": NOW + 1}, AUD, NOW)
    assert not worth_reviewing(None, AUD, NOW)


def test_a_valid_review_is_kept_until_the_token_expires_at_most_the_cap() -> None:
    assert review_ttl({"exp": NOW + 3600}, NOW, cap_s=600, fallback_s=60) == 600
    assert review_ttl({"exp": NOW + 42}, NOW, cap_s=600, fallback_s=60) == 42
    assert review_ttl({"exp": NOW - 1}, NOW, cap_s=600, fallback_s=60) == 0
    assert review_ttl({}, NOW, cap_s=600, fallback_s=60) == 60
    assert review_ttl(None, NOW, cap_s=30, fallback_s=60) == 30


def test_the_pod_comes_from_the_reviews_extra_of_a_service_account() -> None:
    extra = {"authentication.kubernetes.io/pod-name": ("p",),
             "authentication.kubernetes.io/pod-uid": ("uid-p",)}
    account = "system:serviceaccount:team:default"
    assert pod_identity(UserInfo(account, extra=extra)) == PodIdentity(NS, "p", "uid-p")
    assert pod_identity(UserInfo("alice", extra=extra)) is None
    assert pod_identity(UserInfo(account)) is None  # a token bound to no pod
    assert pod_identity(UserInfo(account, extra={**extra, "authentication.kubernetes.io/"
                                                 "pod-uid": ("a", "b")})) is None
    assert pod_identity(None) is None


# --- the binding and the decision ---------------------------------------------------------

REVIEWED = PodIdentity(NS, "t-1-abc", "uid-pod")
JOB = job_facts(job_body("t", 1))


def test_a_pod_is_bound_to_the_job_that_controls_it() -> None:
    assert JOB is not None
    pod = pod_facts(pod_body("t-1-abc", "uid-pod", "t-1"))
    assert bind_pod(REVIEWED, pod, JOB) == PodBinding("uid-pod", "t-1", "uid-t-1", "uid-t", 1)
    assert bind_pod(REVIEWED, None, JOB) is None  # the pod is gone
    assert bind_pod(REVIEWED, replace(pod, uid="uid-new"), JOB) is None  # another pod now
    assert bind_pod(REVIEWED, replace(pod, deleting=True), JOB) is None
    assert bind_pod(REVIEWED, replace(pod, controller=None), JOB) is None
    other_kind = Controller("apps/v1", "ReplicaSet", "t-1", "uid-t-1")
    assert bind_pod(REVIEWED, replace(pod, controller=other_kind), JOB) is None
    assert bind_pod(REVIEWED, replace(pod, controller=Controller(
        "batch/v1", "Job", "t-1", "uid-another-t-1")), JOB) is None
    assert bind_pod(REVIEWED, pod, replace(JOB, owner_uid=None)) is None
    assert bind_pod(REVIEWED, pod, None) is None
    # Only the controller reference counts.
    two = pod_body("t-1-abc", "uid-pod", "t-1")
    two["metadata"]["ownerReferences"].insert(0, {"apiVersion": "batch/v1", "kind": "Job",
                                                  "name": "x", "uid": "uid-x"})
    assert bind_pod(REVIEWED, pod_facts(two), JOB) is not None


BOUND = PodBinding("uid-pod", "t-1", "uid-t-1", "uid-t", 1)


def test_a_bound_pod_reports_for_its_own_task_and_current_attempt_only() -> None:
    assert JOB is not None
    key = (NS, "t")
    assert reporting_attempt(key, BOUND, running(), JOB) == 1
    assert reporting_attempt(key, BOUND, running(), None) == 1  # the index lags: status says
    assert reporting_attempt((NS, "u"), BOUND, running("u"), None) is None  # another task
    assert reporting_attempt(key, BOUND, running(uid="uid-t-again"), JOB) is None  # recreated
    assert reporting_attempt(key, BOUND, running(attempts=2), JOB) is None  # a later attempt
    assert reporting_attempt(key, BOUND, running(phase="Cancelled", reason="Cancelled"),
                             JOB) is None
    assert reporting_attempt(key, BOUND, None, JOB) is None
    # The Job has ended (a deleted pod fails it) before the task's status says so.
    assert reporting_attempt(key, BOUND, running(), replace(JOB, outcome="Failed")) is None
    assert reporting_attempt(key, BOUND, running(), replace(JOB, deleting=True)) is None
    assert reporting_attempt(key, BOUND, running(), replace(JOB, uid="uid-new-t-1")) is None
    # A Job that the task controls but is not named as its attempts' are: not the attempt's.
    assert reporting_attempt(key, replace(BOUND, job_name="t-extra"), running(), None) is None


# --- the review cache -------------------------------------------------------------------

def reviews_over(fake: FakeCluster, now: list[float], **kwargs: Any) -> PodTokenReviews:
    return PodTokenReviews(fake, AUD, clock=lambda: now[0], wall=lambda: NOW + now[0],
                           **kwargs)


def test_a_valid_review_is_kept_until_expiry_or_the_cap_and_a_refusal_briefly() -> None:
    async def scenario() -> None:
        fake, now = FakeCluster(), [0.0]
        reviews = reviews_over(fake, now, max_ttl_s=600, miss_ttl_s=10)
        pod = pod_body("p", "uid-p")
        long_lived, short_lived = fake.mint(pod), fake.mint(pod, lifetime=30)
        refused = fake.mint(pod, audiences=("other",))
        for token in (long_lived, short_lived, refused):
            await reviews.review(token)
        assert reviews.kept(long_lived) == (True, PodIdentity(NS, "p", "uid-p"))
        assert reviews.kept(refused) == (True, None)
        now[0] = 10.0
        assert reviews.kept(refused) == (False, None)  # refusals are asked again soon
        assert reviews.kept(short_lived)[0]
        now[0] = 30.0
        assert not reviews.kept(short_lived)[0] and reviews.kept(long_lived)[0]
        now[0] = 600.0
        assert not reviews.kept(long_lived)[0]  # the cap, whatever the token's lifetime
        assert reviews.reviews_sent == 3

    run(scenario)


def test_an_answer_that_does_not_name_our_audience_is_a_refusal() -> None:
    """An authenticator that ignores audiences answers with none: valid for the API server,
    which the API docs ask reviewers to refuse."""
    class IgnoresAudiences(FakeCluster):
        async def review_token(self, body: JSON) -> JSON:
            answer = await super().review_token(body)
            answer["status"].pop("audiences", None)
            return answer

    async def scenario() -> None:
        fake, now = IgnoresAudiences(), [0.0]
        token = fake.mint(pod_body("p", "uid-p"))
        assert await reviews_over(fake, now).review(token) is None

    run(scenario)


def test_concurrent_reviews_of_one_token_are_one_and_a_failure_keeps_nothing() -> None:
    async def scenario() -> None:
        fake, now = FakeCluster(), [0.0]
        reviews = reviews_over(fake, now)
        token = fake.mint(pod_body("p", "uid-p"))
        fake.gate = asyncio.Event()
        waiting = [asyncio.create_task(reviews.review(token)) for _ in range(5)]
        await asyncio.sleep(0)
        fake.gate.set()
        assert len(set(await asyncio.gather(*waiting))) == 1
        assert fake.count("review") == 1
        fake.failing, other = True, fake.mint(pod_body("q", "uid-q"))
        with pytest.raises(ApiError):
            await reviews.review(other)
        assert reviews.kept(other) == (False, None)

    run(scenario)


def test_the_review_cache_is_bounded_and_drains() -> None:
    async def scenario() -> None:
        fake, now = FakeCluster(), [0.0]
        reviews = reviews_over(fake, now, capacity=4, max_ttl_s=60)
        tokens = [fake.mint(pod_body(f"p{i}", f"uid-{i}")) for i in range(10)]
        for token in tokens:
            await reviews.review(token)
        assert len(reviews) == 4
        assert [reviews.kept(t)[0] for t in tokens] == [False] * 6 + [True] * 4
        now[0] = 60.0  # all expired: asked again, and the size stays bounded
        for token in tokens:
            assert not reviews.kept(token)[0]
            await reviews.review(token)
        assert len(reviews) == 4

    run(scenario)


# --- the binding cache ---------------------------------------------------------------------

def test_a_binding_is_read_once_per_pod_from_the_index_when_it_has_the_job() -> None:
    async def scenario() -> None:
        fake = FakeCluster()
        fake.pods["t-1-abc"] = pod_body("t-1-abc", "uid-pod", "t-1")
        fake.jobs["t-1"] = job_body("t", 1)
        bindings = PodBindings(fake)
        indexed = {"t-1": JOB}
        for _ in range(3):
            assert await bindings.binding(REVIEWED, indexed.get) == BOUND
        assert fake.calls == ["get-pod"]  # the Job came from the index
        other = PodIdentity(NS, "t-1-xyz", "uid-pod-2")
        fake.pods["t-1-xyz"] = pod_body("t-1-xyz", "uid-pod-2", "t-1")
        assert await bindings.binding(other, lambda _name: None) is not None
        assert fake.calls == ["get-pod", "get-pod", "get-job"]  # not in the index: read

    run(scenario)


def test_a_pod_that_is_not_an_attempts_is_remembered_briefly() -> None:
    async def scenario() -> None:
        fake, now = FakeCluster(), [0.0]
        fake.pods["t-1-abc"] = pod_body("t-1-abc", "uid-replaced", "t-1")  # a new pod, same name
        bindings = PodBindings(fake, miss_ttl_s=10, clock=lambda: now[0])
        assert await bindings.binding(REVIEWED, {"t-1": JOB}.get) is None
        assert await bindings.binding(REVIEWED, {"t-1": JOB}.get) is None
        assert fake.calls == ["get-pod"]
        now[0] = 10.0
        assert await bindings.binding(REVIEWED, {"t-1": JOB}.get) is None
        assert fake.calls == ["get-pod", "get-pod"]

    run(scenario)


def test_the_binding_maps_are_bounded_and_drain() -> None:
    async def scenario() -> None:
        fake, now = FakeCluster(), [0.0]
        bindings = PodBindings(fake, capacity=3, miss_ttl_s=10, clock=lambda: now[0])
        fake.jobs["t-1"] = job_body("t", 1)
        for i in range(8):
            fake.pods[f"p{i}"] = pod_body(f"p{i}", f"uid-{i}", "t-1")
            assert await bindings.binding(PodIdentity(NS, f"p{i}", f"uid-{i}"),
                                          {"t-1": JOB}.get) is not None
            assert await bindings.binding(PodIdentity(NS, f"gone{i}", f"uid-g{i}"),
                                          {"t-1": JOB}.get) is None
        assert bindings.sizes() == (3, 3, 0)
        reads = fake.count("get-pod")
        assert await bindings.binding(PodIdentity(NS, "p0", "uid-0"), {"t-1": JOB}.get)
        assert fake.count("get-pod") == reads + 1  # pushed out: read again, nothing lost
        now[0] = 10.0
        for i in range(8):  # the misses have expired; pods that exist now are bound
            fake.pods[f"gone{i}"] = pod_body(f"gone{i}", f"uid-g{i}", "t-1")
            await bindings.binding(PodIdentity(NS, f"gone{i}", f"uid-g{i}"), {"t-1": JOB}.get)
        assert bindings.sizes() == (3, 0, 0)

    run(scenario)
