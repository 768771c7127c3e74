"""The progress endpoint over HTTP, with a fake cluster that counts its calls: a pod's token is
accepted for its own task and attempt only, every refusal looks the same, what is refused
before a review costs none, and the inbox of reports is filled past its bound and drained."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from agenttasks.api.task import Progress
from agenttasks.core.facts import JobFacts, TaskFacts, TaskSummary, summary_of
from agenttasks.inbox.agent_reports import Coalescer, ProgressInbox
from agenttasks.kube.progress_auth import PodBindings, PodTokenReviews
from agenttasks.manifests.jobs import job_facts
from agenttasks.web.progress_endpoint import REFUSED, ProgressEndpoint
from agenttasks.web.server import build_app
from agenttasks.web.token_throttle import TokenReviewThrottle

from .http_client import with_client
from .test_progress_auth import AUD, NOW, NS, FakeCluster, job_body, jwt, pod_body, running

Client = TestClient[Any, Any]


class World:
    """Tasks and Jobs as the operator's view holds them, over a fake cluster."""

    def __init__(self, max_pending: int = 100, per_minute: int = 60) -> None:
        self.cluster = FakeCluster()
        self.inbox = ProgressInbox(max_pending=max_pending)
        self.tasks: dict[tuple[str, str], TaskFacts] = {}
        self.jobs: dict[tuple[str, str], list[JobFacts]] = {}
        self.endpoint = ProgressEndpoint(
            PodTokenReviews(self.cluster, AUD, wall=lambda: NOW), PodBindings(self.cluster),
            self.inbox, task=self.summary, jobs=lambda key: self.jobs.get(key, []),
            watched=lambda ns: ns == NS, throttle=TokenReviewThrottle(per_minute=per_minute),
            wall=lambda: NOW)

    def summary(self, key: tuple[str, str]) -> TaskSummary | None:
        """The view's summary of a task, as the endpoint reads it."""
        facts = self.tasks.get(key)
        return summary_of(facts) if facts is not None else None

    def attempt(self, name: str, attempt: int = 1, finished: bool = False) -> str:
        """Task ``name`` at ``attempt``, its Job in the index and its pod in the cluster; the
        token the kubelet would mount in that pod."""
        self.tasks[(NS, name)] = running(name, attempts=attempt)
        body = job_body(name, attempt, finished=finished)
        self.cluster.jobs[body["metadata"]["name"]] = body
        facts = job_facts(body)
        assert facts is not None
        self.jobs[(NS, name)] = [j for j in self.jobs.get((NS, name), [])
                                 if j.name != facts.name] + [facts]
        pod = pod_body(f"{facts.name}-pod", f"uid-{facts.name}-pod", facts.name)
        self.cluster.pods[pod["metadata"]["name"]] = pod
        return self.cluster.mint(pod)


def serve(world: World, test: Callable[[Client], Awaitable[None]]) -> None:
    with_client(build_app(progress=world.endpoint), test)


async def post(client: Client, ns: str, name: str, token: str | None,
               body: Any = None) -> int:
    status, _answer = await answer(client, ns, name, token, body)
    return status


async def answer(client: Client, ns: str, name: str, token: str | None,
                 body: Any = None) -> tuple[int, Any]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = await client.post(f"/progress/{ns}/{name}", headers=headers,
                                 json=body if body is not None else {"completed": 1})
    return int(response.status), await response.json()


def test_a_pods_token_is_accepted_for_its_own_task_and_attempt() -> None:
    world = World()

    async def test(client: Client) -> None:
        token = world.attempt("t")
        assert await post(client, NS, "t", token, {"completed": 2, "total": 4}) == 202
        assert world.inbox.due((NS, "t")) == Progress(completed=2, total=4, percent=50,
                                                      attempt=1)
        for done in range(3, 10):  # the pod goes on reporting: answered from memory
            assert await post(client, NS, "t", token, {"completed": done}) == 202
        assert world.cluster.calls == ["review", "get-pod"]  # its Job is in the index

    serve(world, test)


def test_every_refusal_is_the_same_answer() -> None:
    world = World()

    async def test(client: Client) -> None:
        token = world.attempt("t")
        other = world.attempt("other")
        stranger = world.cluster.mint(pod_body("loose", "uid-loose"))  # no Job controls it
        world.cluster.pods["loose"] = pod_body("loose", "uid-loose")
        foreign = world.cluster.mint(world.cluster.pods["t-1-pod"], audiences=("vault",))
        api = world.cluster.mint(world.cluster.pods["t-1-pod"],
                                 audiences=("https://kubernetes.default.svc",))
        unbound = world.cluster.mint(world.cluster.pods["t-1-pod"], bound=False)
        answers = [
            await answer(client, NS, "other", token),  # another task's URL
            await answer(client, NS, "t", other),
            await answer(client, NS, "unknown", token),  # no such task
            await answer(client, NS, "t", stranger),
            await answer(client, NS, "t", foreign),  # another audience
            await answer(client, NS, "t", api),
            await answer(client, NS, "t", unbound),  # a token bound to no pod
            await answer(client, NS, "t", "not-a-jwt"),
            await answer(client, NS, "t", None),
            await answer(client, "elsewhere", "t", token),  # a namespace not watched
        ]
        assert answers == [(401, REFUSED)] * len(answers)
        assert await post(client, NS, "t", token) == 202

    serve(world, test)


def test_what_cannot_pass_a_review_costs_none() -> None:
    world = World()

    async def test(client: Client) -> None:
        world.attempt("t")
        expired = jwt({"aud": [AUD], "exp": NOW - 1})
        for token in ("not-a-jwt", jwt({"aud": ["other"], "exp": NOW + 60}), expired,
                      jwt({"aud": [AUD]}), "a.b.c"):
            assert await post(client, NS, "t", token) == 401
        assert world.cluster.calls == []

    serve(world, test)


def test_a_previous_attempts_pod_is_refused_from_memory() -> None:
    world = World()

    async def test(client: Client) -> None:
        first = world.attempt("t", 1)
        assert await post(client, NS, "t", first) == 202
        second = world.attempt("t", 2)  # the retry's Job and pod; status says attempt 2
        calls = len(world.cluster.calls)
        assert await post(client, NS, "t", first) == 401
        assert len(world.cluster.calls) == calls  # kept review, kept binding
        assert await post(client, NS, "t", second) == 202

    serve(world, test)


def test_a_pod_whose_job_ended_is_refused_before_the_task_says_so() -> None:
    """Deleting an attempt's pod fails its Job (backoffLimit 0): the index shows it first."""
    world = World()

    async def test(client: Client) -> None:
        token = world.attempt("t")
        assert await post(client, NS, "t", token) == 202
        del world.cluster.pods["t-1-pod"]
        failed = job_facts(job_body("t", 1, finished=True))
        assert failed is not None
        world.jobs[(NS, "t")] = [failed]
        assert await post(client, NS, "t", token) == 401

    serve(world, test)


def test_a_finished_task_is_refused_without_a_read() -> None:
    world = World()

    async def test(client: Client) -> None:
        token = world.attempt("t")
        fresh = world.cluster.mint(world.cluster.pods["t-1-pod"])
        assert await post(client, NS, "t", token) == 202
        world.tasks[(NS, "t")] = running("t", phase="Cancelled", reason="Cancelled")
        calls = len(world.cluster.calls)
        assert await post(client, NS, "t", token) == 401
        assert len(world.cluster.calls) == calls
        # A token not reviewed yet costs its review (authentication comes first), no more.
        assert await post(client, NS, "t", fresh) == 401
        assert world.cluster.calls[calls:] == ["review"]

    serve(world, test)


def test_an_api_failure_is_a_503_and_keeps_nothing() -> None:
    world = World()

    async def test(client: Client) -> None:
        token = world.attempt("t")
        world.cluster.failing = True
        assert await post(client, NS, "t", token) == 503
        world.cluster.failing = False
        assert await post(client, NS, "t", token) == 202
        assert world.cluster.calls == ["review", "review", "get-pod"]

    serve(world, test)


def test_reviews_of_new_tokens_are_throttled_per_address_but_kept_ones_are_not() -> None:
    world = World(per_minute=2)

    async def test(client: Client) -> None:
        tokens = [world.attempt(f"t{i}") for i in range(3)]
        assert await post(client, NS, "t0", tokens[0]) == 202
        assert await post(client, NS, "t1", tokens[1]) == 202
        status, _ = await answer(client, NS, "t2", tokens[2])
        assert status == 429
        for _ in range(5):
            assert await post(client, NS, "t0", tokens[0]) == 202
        assert world.cluster.count("review") == 2

    serve(world, test)


def test_a_full_inbox_answers_503_and_takes_reports_again_once_drained() -> None:
    world = World(max_pending=2)

    async def test(client: Client) -> None:
        held = {name: world.attempt(name) for name in ("a", "b", "c")}
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


def test_a_bad_report_is_a_400_after_the_token_is_checked() -> None:
    world = World()

    async def test(client: Client) -> None:
        token = world.attempt("t")
        assert await post(client, NS, "t", token, {"completed": -1}) == 400
        assert await post(client, NS, "t", "not-a-jwt", {"completed": -1}) == 401

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

