"""Who a request through the kube-apiserver's aggregator is from (core.front_proxy): the
headers count only with the front proxy's certificate, and the configuration is read as the
API server publishes it."""

from __future__ import annotations

import json

import pytest

from agenttasks.core.front_proxy import (
    NotProxied,
    RequestHeaderConfig,
    parse_config_map,
    proxied_user,
)

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
PUBLISHED = {  # kube-system/extension-apiserver-authentication, as kube-apiserver writes it
    "client-ca-file": CA,
    "requestheader-client-ca-file": CA,
    "requestheader-allowed-names": json.dumps(["front-proxy-client"]),
    "requestheader-username-headers": json.dumps(["X-Remote-User"]),
    "requestheader-group-headers": json.dumps(["X-Remote-Group"]),
    "requestheader-extra-headers-prefix": json.dumps(["X-Remote-Extra-"]),
}
CONFIG = parse_config_map(PUBLISHED)


def test_the_published_configuration_is_read() -> None:
    expected = RequestHeaderConfig(
        client_ca=CA, allowed_names=("front-proxy-client",),
        username_headers=("X-Remote-User",), group_headers=("X-Remote-Group",),
        extra_prefixes=("X-Remote-Extra-",))
    assert parse_config_map(PUBLISHED) == expected


def test_without_a_front_proxy_ca_there_is_no_aggregation() -> None:
    with pytest.raises(ValueError, match="requestheader-client-ca-file"):
        parse_config_map({"client-ca-file": CA})
    with pytest.raises(ValueError, match="not a list"):
        parse_config_map({**PUBLISHED, "requestheader-allowed-names": '"front-proxy-client"'})


def test_the_user_groups_and_extras_come_from_the_headers() -> None:
    user = proxied_user(CONFIG, "front-proxy-client", {
        "x-remote-user": ["alice"], "x-remote-group": ["team-a", "system:authenticated"],
        "x-remote-extra-scopes": ["read", "write"],
        "x-remote-extra-example.org%2fteam": ["x"], "authorization": ["Bearer nope"]})
    assert user.username == "alice"
    assert user.groups == ("team-a", "system:authenticated")
    assert dict(user.extra) == {"scopes": ("read", "write"), "example.org/team": ("x",)}


@pytest.mark.parametrize(("common_name", "headers", "why"), [
    (None, {"x-remote-user": ["admin"]}, "no client certificate"),
    ("someone-else", {"x-remote-user": ["admin"]}, "not an allowed front proxy"),
    ("front-proxy-client", {"x-remote-group": ["system:masters"]}, "named no user"),
    ("front-proxy-client", {"x-remote-user": [""]}, "named no user"),
])
def test_headers_are_believed_only_from_the_front_proxy(
        common_name: str | None, headers: dict[str, list[str]], why: str) -> None:
    with pytest.raises(NotProxied, match=why):
        proxied_user(CONFIG, common_name, headers)


def test_an_empty_allowed_list_accepts_any_certificate_of_the_ca() -> None:
    """As the kube-apiserver decides: the CA alone then vouches (TLS verified the chain)."""
    config = parse_config_map({**PUBLISHED, "requestheader-allowed-names": "[]"})
    assert proxied_user(config, "any-name", {"x-remote-user": ["bob"]}).username == "bob"
