"""The dashboard's gate: TokenReview cache (by token hash, with a TTL), SubjectAccessReviews
for every read and action, and read-only mode."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from agenttasks.core.privilege import Access, UserInfo
from agenttasks.web.auth import (
    INVALID_TOKEN_TTL_S,
    MAX_CACHED_TOKENS,
    TOKEN_TTL_S,
    DashboardError,
    Gate,
)
from agenttasks.web.token_throttle import TokenReviewThrottle

T = TypeVar("T")
TOKEN = "eyJhbGciOiJSUzI1NiJ9.secret-part.signature"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class FakeReviews:
    """An API server: tokens map to users, rules are (user, verb, resource, namespace)."""

    def __init__(self, users: dict[str, str] | None = None,
                 rules: set[tuple[str, str, str, str]] | None = None) -> None:
        self.users = users if users is not None else {TOKEN: "alice"}
        self.rules = rules or set()
        self.token_reviews: list[dict[str, Any]] = []
        self.access_reviews: list[dict[str, Any]] = []
        self.fail = False

    async def review_token(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.fail:
            raise ConnectionError("api server down")
        self.token_reviews.append(body)
        user = self.users.get(body["spec"]["token"])
        if user is None:
            return {"status": {"authenticated": False, "error": "invalid"}}
        return {"status": {"authenticated": True, "user": {
            "username": user, "uid": f"uid-{user}", "groups": ["system:authenticated"]}}}

    async def review_access(self, body: dict[str, Any]) -> dict[str, Any]:
        self.access_reviews.append(body)
        spec, attrs = body["spec"], body["spec"]["resourceAttributes"]
        key = (spec["user"], attrs["verb"], attrs["resource"], attrs.get("namespace", ""))
        return {"status": {"allowed": key in self.rules}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_review_is_cached_by_hash_for_a_short_ttl() -> None:
    reviews, clock = FakeReviews(), Clock()
    gate = Gate(reviews, clock=clock)
    user = run(gate.identify(f"Bearer {TOKEN}"))
    assert user is not None and user.username == "alice" and user.uid == "uid-alice"
    assert user.groups == ("system:authenticated",)
    clock.now += TOKEN_TTL_S - 1
    run(gate.identify(f"Bearer {TOKEN}"))
    assert len(reviews.token_reviews) == 1
    clock.now += 2
    run(gate.identify(f"Bearer {TOKEN}"))
    assert len(reviews.token_reviews) == 2
    # the cache holds hashes, never the token itself
    assert all(TOKEN not in key and len(key) == 64 for key in gate._tokens)
    assert TOKEN not in repr([(k, gate._tokens.get(k)) for k in gate._tokens])


def test_a_revoked_token_stops_working_after_the_ttl() -> None:
    reviews, clock = FakeReviews(), Clock()
    gate = Gate(reviews, clock=clock)
    run(gate.identify(f"Bearer {TOKEN}"))
    reviews.users.clear()
    clock.now += TOKEN_TTL_S + 0.1
    with pytest.raises(DashboardError) as caught:
        run(gate.identify(f"Bearer {TOKEN}"))
    assert caught.value.status == 401


def test_invalid_tokens_are_401_and_cached_briefly() -> None:
    reviews, clock = FakeReviews(), Clock()
    gate = Gate(reviews, clock=clock)
    for _ in range(2):
        with pytest.raises(DashboardError) as caught:
            run(gate.identify("Bearer wrong"))
        assert caught.value.status == 401
    assert len(reviews.token_reviews) == 1
    clock.now += INVALID_TOKEN_TTL_S + 0.1
    reviews.users["wrong"] = "fixed"
    user = run(gate.identify("Bearer wrong"))
    assert user is not None and user.username == "fixed"


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer two words"])
def test_no_or_malformed_token_is_401(header: str | None) -> None:
    gate = Gate(FakeReviews())
    with pytest.raises(DashboardError) as caught:
        run(gate.identify(header))
    assert caught.value.status == 401


def test_token_review_failure_is_503_and_logs_no_token(caplog: pytest.LogCaptureFixture) -> None:
    reviews = FakeReviews()
    reviews.fail = True
    gate = Gate(reviews)
    with caplog.at_level(logging.DEBUG), pytest.raises(DashboardError) as caught:
        run(gate.identify(f"Bearer {TOKEN}"))
    assert caught.value.status == 503
    assert TOKEN not in caplog.text and "secret-part" not in caplog.text


def test_cache_is_bounded() -> None:
    reviews, clock = FakeReviews(users={}), Clock()
    gate = Gate(reviews, clock=clock, throttle=TokenReviewThrottle(per_minute=10**6))
    for i in range(MAX_CACHED_TOKENS + 10):
        with pytest.raises(DashboardError):
            run(gate.identify(f"Bearer t{i}"))
    assert len(gate._tokens) <= MAX_CACHED_TOKENS


def test_every_check_is_a_subject_access_review_for_the_user() -> None:
    reviews = FakeReviews(rules={("alice", "patch", "agenttasks", "a")})
    gate = Gate(reviews)
    user = run(gate.identify(f"Bearer {TOKEN}"))
    run(gate.require(user, Access("patch", "agenttasks", "a", "t1")))
    with pytest.raises(DashboardError) as caught:
        run(gate.require(user, Access("patch", "agenttasks", "b", "t1")))
    assert caught.value.status == 403
    assert caught.value.message == ("alice may not patch agenttasks.agenttasks.io 't1' in "
                                    "namespace 'b'")
    assert len(reviews.access_reviews) == 2
    spec = reviews.access_reviews[0]["spec"]
    assert spec["user"] == "alice" and spec["uid"] == "uid-alice"
    assert spec["groups"] == ["system:authenticated"]
    assert spec["resourceAttributes"]["name"] == "t1"


def test_require_needs_every_access() -> None:
    reviews = FakeReviews(rules={("alice", "get", "agenttasks", "a")})
    gate = Gate(reviews)
    user = UserInfo("alice")
    with pytest.raises(DashboardError) as caught:
        run(gate.require(user, Access("get", "agenttasks", "a", "t"),
                         Access("create", "agenttasks", "a")))
    assert "may not create" in caught.value.message


def test_without_read_only_mode_anonymous_users_get_nothing() -> None:
    gate = Gate(FakeReviews())
    assert run(gate.allows(None, Access("list", "agenttasks", "a"))) is False


def test_read_only_mode_lets_anonymous_users_read_but_not_act() -> None:
    reviews = FakeReviews()
    gate = Gate(reviews, read_only_without_token=True)
    assert run(gate.identify(None)) is None
    assert run(gate.allows(None, Access("list", "agenttasks"))) is True
    assert run(gate.allows(None, Access("get", "agenttasks", "a", "t"))) is True
    assert run(gate.allows(None, Access("patch", "agenttasks", "a", "t"))) is False
    with pytest.raises(DashboardError) as caught:
        run(gate.identify(None, action=True))
    assert caught.value.status == 401
    with pytest.raises(DashboardError) as denied:
        run(gate.require(None, Access("patch", "agenttasks", "a", "t")))
    assert denied.value.status == 403
    assert reviews.access_reviews == []  # nothing to ask about for anonymous
    # A token given in read-only mode is still reviewed, and a bad one refused.
    with pytest.raises(DashboardError):
        run(gate.identify("Bearer nope"))


def test_readable_namespaces() -> None:
    reviews = FakeReviews(rules={("alice", "list", "agenttasks", "a"),
                                 ("bob", "list", "agenttasks", "")})
    gate = Gate(reviews)
    alice, bob = UserInfo("alice"), UserInfo("bob")
    assert run(gate.readable(bob, "agenttasks", "", {"a", "b"})) is None
    assert run(gate.readable(alice, "agenttasks", "", {"a", "b", "c"})) == frozenset({"a"})
    assert run(gate.readable(alice, "agenttasks", "a", {"a", "b"})) == frozenset({"a"})
    with pytest.raises(DashboardError) as caught:
        run(gate.readable(alice, "agenttasks", "b", {"a", "b"}))
    assert caught.value.status == 403
    with pytest.raises(DashboardError) as too_many:
        run(gate.readable(alice, "agenttasks", "", {f"n{i}" for i in range(60)}))
    assert "choose a namespace" in too_many.value.message


# --- throttling the TokenReviews of new tokens ------------------------------------------------


def throttled_gate(reviews: FakeReviews, clock: Clock, per_minute: int = 5,
                   max_in_flight: int = 16) -> Gate:
    throttle = TokenReviewThrottle(per_minute, max_in_flight, clock=clock)
    return Gate(reviews, clock=clock, throttle=throttle)


def refusal(gate: Gate, header: str, client: str = "10.0.0.1") -> DashboardError:
    with pytest.raises(DashboardError) as caught:
        run(gate.identify(header, client=client))
    return caught.value


def test_a_flood_of_random_tokens_sends_at_most_the_budget() -> None:
    reviews, clock = FakeReviews(), Clock()
    gate = throttled_gate(reviews, clock, per_minute=5)
    answers = [refusal(gate, f"Bearer random-{i}") for i in range(200)]
    assert len(reviews.token_reviews) == 5  # the burst, then nothing
    assert [a.status for a in answers[:5]] == [401] * 5
    assert {a.status for a in answers[5:]} == {429}
    assert answers[5].retry_after == 12  # 5 a minute: the next token in 12 s
    assert "try again in 12 s" in answers[5].message
    clock.now += 60  # a minute later, another burst and no more
    for i in range(200):
        refusal(gate, f"Bearer later-{i}")
    assert len(reviews.token_reviews) == 10
    assert len(gate._tokens) == 10  # a refused token is not cached either


def test_another_address_has_its_own_budget() -> None:
    reviews, clock = FakeReviews(), Clock()
    gate = throttled_gate(reviews, clock, per_minute=1)
    assert refusal(gate, "Bearer x1", client="10.0.0.1").status == 401
    assert refusal(gate, "Bearer x2", client="10.0.0.1").status == 429
    user = run(gate.identify(f"Bearer {TOKEN}", client="10.0.0.2"))
    assert user is not None and user.username == "alice"


def test_cached_tokens_are_never_throttled() -> None:
    reviews, clock = FakeReviews(), Clock()
    gate = throttled_gate(reviews, clock, per_minute=2)
    run(gate.identify(f"Bearer {TOKEN}", client="10.0.0.1"))
    assert refusal(gate, "Bearer wrong").status == 401
    assert refusal(gate, "Bearer other").status == 429  # the budget is spent
    for _ in range(50):  # a valid and an invalid token, both cached: no review, no 429
        assert run(gate.identify(f"Bearer {TOKEN}", client="10.0.0.1")) is not None
        assert refusal(gate, "Bearer wrong").status == 401
    assert len(reviews.token_reviews) == 2


def test_a_token_valid_when_last_asked_is_reviewed_again_unthrottled() -> None:
    """A signed-in user's streams re-check every 30 s: a flood spending their address's
    budget must not sign them out."""
    reviews, clock = FakeReviews(), Clock()
    gate = throttled_gate(reviews, clock, per_minute=1)
    run(gate.identify(f"Bearer {TOKEN}", client="127.0.0.1"))
    clock.now += 61  # the entry expired; the address's bucket (one a minute) refilled
    assert refusal(gate, "Bearer flood", client="127.0.0.1").status == 401  # spent again
    assert run(gate.identify(f"Bearer {TOKEN}", client="127.0.0.1")) is not None
    assert len(reviews.token_reviews) == 3
    reviews.users.clear()  # revoked: refused, then throttled like any invalid token
    clock.now += 61
    assert refusal(gate, f"Bearer {TOKEN}", client="127.0.0.1").status == 401
    clock.now += INVALID_TOKEN_TTL_S + 1
    assert refusal(gate, "Bearer flood-2", client="127.0.0.1").status == 401
    assert refusal(gate, f"Bearer {TOKEN}", client="127.0.0.1").status == 429


class SlowReviews(FakeReviews):
    """TokenReviews that wait until ``release`` is set, counting those waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.waiting = 0

    async def review_token(self, body: dict[str, Any]) -> dict[str, Any]:
        self.waiting += 1
        await self.release.wait()
        return await super().review_token(body)


def test_reviews_in_flight_are_capped_across_addresses() -> None:
    reviews, clock = SlowReviews(), Clock()
    gate = throttled_gate(reviews, clock, per_minute=100, max_in_flight=3)

    async def flood() -> list[BaseException | UserInfo | None]:
        calls = [asyncio.ensure_future(gate.identify(f"Bearer t{i}", client=f"10.0.0.{i}"))
                 for i in range(10)]
        await asyncio.sleep(0.01)
        assert reviews.waiting == 3 and gate.throttle.in_flight == 3
        reviews.release.set()
        return await asyncio.gather(*calls, return_exceptions=True)

    answers = run(flood())
    statuses = [a.status for a in answers if isinstance(a, DashboardError)]
    assert sorted(statuses) == [401] * 3 + [429] * 7
    assert all(a.retry_after == 1 for a in answers
               if isinstance(a, DashboardError) and a.status == 429)
    assert gate.throttle.in_flight == 0 and len(reviews.token_reviews) == 3


def test_one_review_for_a_token_asked_about_at_once() -> None:
    reviews, clock = SlowReviews(), Clock()
    gate = throttled_gate(reviews, clock, per_minute=1)

    async def page_load() -> list[UserInfo | None]:
        calls = [asyncio.ensure_future(gate.identify(f"Bearer {TOKEN}", client="10.0.0.1"))
                 for _ in range(3)]  # whoami, the view and its stream
        await asyncio.sleep(0.01)
        reviews.release.set()
        return await asyncio.gather(*calls)

    users = run(page_load())
    assert [u.username if u else None for u in users] == ["alice"] * 3
    assert len(reviews.token_reviews) == 1  # and one token of the budget of one


class AudienceReviews(FakeReviews):
    """An audience-aware API server: each token was issued for some audiences."""

    issued = {TOKEN: ["https://kubernetes.default.svc"], "dash-token": ["agenttasks"]}

    def __init__(self) -> None:
        super().__init__(users={TOKEN: "alice", "dash-token": "alice"})

    async def review_token(self, body: dict[str, Any]) -> dict[str, Any]:
        review = await super().review_token(body)
        token, asked = body["spec"]["token"], body["spec"].get("audiences")
        shared = [a for a in self.issued.get(token, []) if asked is None or a in asked]
        if not shared:
            return {"status": {"authenticated": False, "error": "token audiences are invalid"}}
        review["status"]["audiences"] = shared
        return review


def test_token_reviews_ask_for_the_configured_audiences() -> None:
    reviews = AudienceReviews()
    gate = Gate(reviews, audiences=("agenttasks", "other"))
    user = run(gate.identify("Bearer dash-token"))
    assert user is not None and user.username == "alice"
    assert reviews.token_reviews[0]["spec"]["audiences"] == ["agenttasks", "other"]
    with pytest.raises(DashboardError) as caught:  # issued for the API server, not for us
        run(gate.identify(f"Bearer {TOKEN}"))
    assert caught.value.status == 401


def test_without_audiences_the_review_asks_for_none() -> None:
    reviews = AudienceReviews()
    assert run(Gate(reviews).identify(f"Bearer {TOKEN}")) is not None
    assert "audiences" not in reviews.token_reviews[0]["spec"]


def test_an_answer_that_ignores_the_audience_is_refused() -> None:
    reviews = FakeReviews()  # authenticates without saying for which audience
    gate = Gate(reviews, audiences=("agenttasks",))
    with pytest.raises(DashboardError) as caught:
        run(gate.identify(f"Bearer {TOKEN}"))
    assert caught.value.status == 401
