"""The dashboard's review bodies and how their answers are read (pure functions)."""

from __future__ import annotations

import pytest

from agenttasks.core.privilege import Access, UserInfo
from agenttasks.manifests.reviews import (
    access_allowed,
    access_review_body,
    token_key,
    token_review_body,
    user_from_token_review,
)
from agenttasks.web.access import (
    bearer_token,
    denial,
    events_access,
    get_task_access,
    list_access,
    run_now_access,
    task_action_access,
)

SA_USER = UserInfo(
    username="system:serviceaccount:team-a:alice", uid="1234-uid",
    groups=("system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated"),
    extra={"authentication.kubernetes.io/credential-id": ("JTI=abc",)})


@pytest.mark.parametrize(("header", "token"), [
    (None, None), ("", None), ("   ", None), ("Bearer abc.def", "abc.def"),
    ("bearer abc", "abc"), ("BEARER  abc ", "abc"),
])
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "abc",
                                    "Bearer a b", "Bearer tok\u00e9n", "Bearer " + "x" * 20000])
def test_bearer_token_rejects_malformed_headers(header: str) -> None:
    with pytest.raises(ValueError):
        bearer_token(header)


def test_token_key_is_a_hash_not_the_token() -> None:
    key = token_key("secret-token")
    assert len(key) == 64 and "secret-token" not in key
    assert key == token_key("secret-token") != token_key("secret-token2")


def test_token_review_body() -> None:
    assert token_review_body("t0k") == {"apiVersion": "authentication.k8s.io/v1",
                                        "kind": "TokenReview", "spec": {"token": "t0k"}}


def test_token_review_body_with_audiences() -> None:
    body = token_review_body("t0k", ("agenttasks", "https://example.com"))
    assert body["spec"] == {"token": "t0k", "audiences": ["agenttasks", "https://example.com"]}


@pytest.mark.parametrize(("answered", "valid"), [
    (["agenttasks"], True), (["other", "agenttasks"], True),
    ([], False), (None, False), (["other"], False),  # unaware of audiences, or not ours
])
def test_an_audience_review_must_name_one_of_ours(answered: list[str] | None,
                                                  valid: bool) -> None:
    status: dict[str, object] = {"authenticated": True, "user": {"username": "alice"}}
    if answered is not None:
        status["audiences"] = answered
    user = user_from_token_review({"status": status}, ("agenttasks",))
    assert (user is not None) is valid
    assert user_from_token_review({"status": status}) is not None  # no audience asked for


def test_user_from_an_authenticated_review() -> None:
    review = {"status": {"authenticated": True, "user": {
        "username": SA_USER.username, "uid": "1234-uid", "groups": list(SA_USER.groups),
        "extra": {"authentication.kubernetes.io/credential-id": ["JTI=abc"]}}}}
    assert user_from_token_review(review) == SA_USER


@pytest.mark.parametrize("review", [
    {}, {"status": {}}, {"status": {"authenticated": False, "user": {"username": "x"}}},
    {"status": {"authenticated": True, "user": {}}},
    {"status": {"authenticated": False, "error": "invalid bearer token"}},
])
def test_user_from_a_refused_review_is_none(review: dict[str, object]) -> None:
    assert user_from_token_review(review) is None


def test_access_review_body_carries_the_whole_user() -> None:
    body = access_review_body(SA_USER, Access("patch", "agenttasks", "team-a", "build-1"))
    assert body == {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {
            "user": SA_USER.username, "uid": "1234-uid", "groups": list(SA_USER.groups),
            "extra": {"authentication.kubernetes.io/credential-id": ["JTI=abc"]},
            "resourceAttributes": {"verb": "patch", "group": "agenttasks.io",
                                   "resource": "agenttasks", "namespace": "team-a",
                                   "name": "build-1"}}}


def test_access_review_body_for_a_cluster_wide_list_of_a_core_kind() -> None:
    body = access_review_body(UserInfo("bob"), Access("list", "events", group="",
                                                      subresource="x"))
    assert body["spec"] == {"user": "bob", "groups": [], "resourceAttributes": {
        "verb": "list", "group": "", "resource": "events", "subresource": "x"}}


@pytest.mark.parametrize(("status", "allowed"), [
    ({"allowed": True}, True), ({"allowed": False}, False), ({}, False),
    ({"allowed": True, "denied": True}, False), ({"allowed": False, "denied": True}, False),
])
def test_access_allowed(status: dict[str, bool], allowed: bool) -> None:
    assert access_allowed({"status": status}) is allowed


def test_what_each_read_and_action_needs() -> None:
    assert list_access("agenttasks") == Access("list", "agenttasks", "")
    assert get_task_access("a", "t") == Access("get", "agenttasks", "a", "t")
    assert events_access("a") == Access("list", "events", "a", group="")
    for action in ("pause", "resume", "cancel"):
        assert task_action_access(action, "a", "t") == [Access("patch", "agenttasks", "a", "t")]
    assert task_action_access("rerun", "a", "t") == [
        Access("get", "agenttasks", "a", "t"), Access("create", "agenttasks", "a")]
    assert run_now_access("a", "s") == Access("patch", "agenttaskschedules", "a", "s")
    with pytest.raises(ValueError):
        task_action_access("delete", "a", "t")


def test_denial_names_the_user_and_the_exact_request() -> None:
    assert denial(SA_USER, Access("patch", "agenttasks", "team-a", "t1")) == (
        "system:serviceaccount:team-a:alice may not patch agenttasks.agenttasks.io 't1' "
        "in namespace 'team-a'")
    assert Access("list", "events", group="").describe() == "list events in all namespaces"
