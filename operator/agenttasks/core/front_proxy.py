"""Who a request proxied by the kube-apiserver's aggregator is from.

The aggregator authenticates and authorizes the user, then calls us with a client
certificate of its front-proxy CA and the user in headers (X-Remote-User, X-Remote-Group,
X-Remote-Extra-*). Those headers are believed only with such a certificate: the TLS layer
verified it against the front-proxy CA, and its common name must be one of the allowed
names (any, when the list is empty, as the kube-apiserver itself decides). Rules from
k8s.io/apiserver's request-header authenticator; the configuration is what the API server
publishes in kube-system/extension-apiserver-authentication.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from .privilege import UserInfo


class NotProxied(Exception):
    """The request did not come through the front proxy; the text says why."""


@dataclass(frozen=True)
class RequestHeaderConfig:
    client_ca: str
    """PEM bundle of the front-proxy CA (what the client certificate must chain to)."""
    allowed_names: tuple[str, ...] = ()
    username_headers: tuple[str, ...] = ("X-Remote-User",)
    uid_headers: tuple[str, ...] = ()
    group_headers: tuple[str, ...] = ("X-Remote-Group",)
    extra_prefixes: tuple[str, ...] = ("X-Remote-Extra-",)


def _names(data: Mapping[str, str], key: str) -> tuple[str, ...] | None:
    raw = data.get(key)
    if raw is None:
        return None
    value = json.loads(raw)  # the API server writes JSON arrays of strings
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} is not a list of strings")
    return tuple(value)


def parse_config_map(data: Mapping[str, str]) -> RequestHeaderConfig:
    """The configuration from the ConfigMap's data. No front-proxy CA there means the
    kube-apiserver runs without --requestheader-client-ca-file: it cannot aggregate."""
    ca = data.get("requestheader-client-ca-file", "")
    if "BEGIN CERTIFICATE" not in ca:
        raise ValueError("the kube-apiserver publishes no front-proxy CA "
                         "(--requestheader-client-ca-file): it cannot call aggregated APIs")
    defaults = RequestHeaderConfig(client_ca=ca)
    return RequestHeaderConfig(
        client_ca=ca,
        allowed_names=_names(data, "requestheader-allowed-names") or (),
        username_headers=_names(data, "requestheader-username-headers")
        or defaults.username_headers,
        uid_headers=_names(data, "requestheader-uid-headers") or (),
        group_headers=_names(data, "requestheader-group-headers") or defaults.group_headers,
        extra_prefixes=_names(data, "requestheader-extra-headers-prefix")
        or defaults.extra_prefixes)


def _first(headers: Mapping[str, Sequence[str]], names: Iterable[str]) -> str:
    for name in names:
        for value in headers.get(name.lower(), ()):
            if value:
                return value
    return ""


def proxied_user(config: RequestHeaderConfig, common_name: str | None,
                 headers: Mapping[str, Sequence[str]]) -> UserInfo:
    """The user named by the headers of a request whose verified client certificate has
    ``common_name`` (None: no certificate). ``headers`` maps lower-case names to every value
    sent. Raises NotProxied when the headers may not be believed or name nobody."""
    if common_name is None:
        raise NotProxied("no client certificate of the front proxy")
    if config.allowed_names and common_name not in config.allowed_names:
        raise NotProxied(f"client certificate {common_name!r} is not an allowed front proxy")
    username = _first(headers, config.username_headers)
    if not username:
        raise NotProxied("the front proxy named no user")
    groups = tuple(g for name in config.group_headers for g in headers.get(name.lower(), ()))
    extra: dict[str, tuple[str, ...]] = {}
    for prefix in (p.lower() for p in config.extra_prefixes):
        for name, values in headers.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                key = unquote(name[len(prefix):])  # keys are percent-encoded, lower-cased
                extra[key] = extra.get(key, ()) + tuple(values)
    return UserInfo(username=username, uid=_first(headers, config.uid_headers),
                    groups=groups, extra=extra)
