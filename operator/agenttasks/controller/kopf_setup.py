"""What kopf does for us, and only that: it runs the process (signals, the event loop's
lifetime), logs in, keeps the peering keep-alives that choose the active replica, and serves
the validating admission webhook. It does not watch our objects (see controller/watches.py)
and has no resource handlers, so it keeps no bookkeeping on our objects at all."""

from __future__ import annotations

import os
from typing import Any

import kopf

from agenttasks.kube.kubeconfig import environment_proxy, load_credentials

from .settings import OperatorSettings


def register_login(registry: kopf.OperatorRegistry, kubeconfig: str | None) -> None:
    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        # The same kubeconfig rule as our own client (kube/connection.py), read afresh on
        # each re-login so that rotated service-account tokens are picked up. kopf's
        # ConnectionInfo has no TLS server name, so a kubeconfig that needs tls-server-name
        # works for our client but not for kopf's login (docs/architecture.md).
        c = load_credentials(kubeconfig)
        return kopf.ConnectionInfo(
            server=c.server, default_namespace=c.namespace, ca_path=c.ca_path,
            ca_data=c.ca_data, insecure=c.insecure, scheme="Bearer" if c.token else None,
            token=c.token, username=c.username, password=c.password,
            certificate_path=c.certificate_path, certificate_data=c.certificate_data,
            private_key_path=c.private_key_path, private_key_data=c.private_key_data,
            proxy_url=c.proxy_url or environment_proxy(c.server, os.environ))


def kopf_settings(settings: OperatorSettings) -> kopf.OperatorSettings:
    """Explicit kopf settings: no framework Events, peering as our flags say, and namespace
    scanning only where globs need it."""
    chosen = kopf.OperatorSettings()
    chosen.posting.enabled = False
    chosen.watching.server_timeout = 300
    chosen.watching.client_timeout = 330
    chosen.watching.connect_timeout = 10
    chosen.peering.standalone = not settings.peering
    chosen.peering.lifetime = settings.peering_lifetime
    chosen.networking.request_timeout = 30
    # kopf rescans namespaces and CRDs only to resolve namespace globs; without globs that
    # needs cluster-wide list rights the chart does not grant (and nothing to gain).
    chosen.scanning.disabled = not settings.uses_patterns
    return chosen
