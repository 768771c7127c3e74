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
    assert TOKEN not in repr(gate._tokens)


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
    gate = Gate(reviews, clock=clock)
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
