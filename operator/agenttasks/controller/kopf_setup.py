"""What kopf does for us, and only that: it runs the process (signals, the event loop's
lifetime), logs in, keeps the peering keep-alives that choose the active replica, and serves
the validating admission webhook. It does not watch our objects (see controller/watches.py)
and has no resource handlers, so it keeps no bookkeeping on our objects at all."""

from __future__ import annotations

from typing import Any

import kopf

from agenttasks.kube.connection import load_api_client

from .settings import OperatorSettings


def register_login(registry: kopf.OperatorRegistry, kubeconfig: str | None) -> None:
    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        # Our own kubeconfig rule, read afresh on each re-login so that rotated
        # service-account tokens are picked up.
        config = load_api_client(kubeconfig).configuration
        header = config.get_api_key_with_prefix("BearerToken") or \
            config.get_api_key_with_prefix("authorization") or ""
        scheme, _sep, token = str(header).rpartition(" ")
        return kopf.ConnectionInfo(
            server=config.host, ca_path=config.ssl_ca_cert, insecure=not config.verify_ssl,
            scheme=scheme or None, token=token or None, certificate_path=config.cert_file,
            private_key_path=config.key_file)


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
