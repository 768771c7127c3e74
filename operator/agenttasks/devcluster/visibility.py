"""The visibility API of an operator that runs on this host (`agenttasks dev`, the tests),
registered with the local cluster's aggregator: the same objects the chart makes for an
operator in a pod, with one difference. The Service has no selector; an EndpointSlice names
this host's address instead, because the API server (with --enable-aggregator-routing)
calls a Service's endpoints and an endpoint may not be a loopback address.

An APIService whose server does not answer makes discovery incomplete, and the namespace
controller then leaves deleted namespaces Terminating until it answers again: whoever
registers one removes it when its operator stops (``objects`` are what to delete).
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
from typing import TYPE_CHECKING, Any

from agenttasks.api.visibility import APISERVICE_NAME, GROUP, VERSION

if TYPE_CHECKING:
    from .cluster import LocalCluster

NAMESPACE = "default"
SERVICE = "agenttasks-visibility"
PORT_NAME = "https"
SERVICE_DNS = f"{SERVICE}.{NAMESPACE}.svc"
"""The name the aggregator checks the serving certificate against."""


def host_address() -> str:
    """A global (non-loopback, non-link-local) IPv4 address of this host."""
    try:
        shown = subprocess.run(["ip", "-j", "-4", "addr", "show", "scope", "global"],
                               capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RuntimeError(f"could not list this host's addresses with `ip`: {exc}") from None
    for link in json.loads(shown or "[]"):
        for address in link.get("addr_info", ()):
            if address.get("family") == "inet" and address.get("local"):
                return str(address["local"])
    raise RuntimeError("this host has no global IPv4 address for the aggregator to call "
                       "(an endpoint may not be a loopback address)")


def objects(port: int, ca_pem: bytes, address: str) -> list[dict[str, Any]]:
    """The Service, its EndpointSlice at ``address``:``port`` and the APIService trusting
    ``ca_pem`` for the Service's name."""
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": SERVICE, "namespace": NAMESPACE},
               "spec": {"ports": [{"name": PORT_NAME, "port": 443, "targetPort": port,
                                   "protocol": "TCP"}]}}
    endpoints = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                 "metadata": {"name": SERVICE, "namespace": NAMESPACE,
                              "labels": {"kubernetes.io/service-name": SERVICE,
                                         "endpointslice.kubernetes.io/managed-by":
                                             "agenttasks-dev"}},
                 "addressType": "IPv4",
                 "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
                 "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}]}
    api_service = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                   "metadata": {"name": APISERVICE_NAME},
                   "spec": {"group": GROUP, "version": VERSION,
                            "service": {"name": SERVICE, "namespace": NAMESPACE, "port": 443},
                            "caBundle": base64.b64encode(ca_pem).decode(),
                            "groupPriorityMinimum": 1000, "versionPriority": 100}}
    return [service, endpoints, api_service]


def as_list(items: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


class Registration:
    """The visibility API of an operator on this host, registered with a local cluster
    while the operator runs: ``cert_dir`` for --visibility-cert-dir; ``remove()`` after."""

    def __init__(self, cluster: LocalCluster, port: int) -> None:
        from .cluster import kubectl
        from .pki import ensure_serving_cert

        self.cluster, self.port = cluster, port
        self.cert_dir = ensure_serving_cert(cluster.pki, "visibility-serving", (SERVICE_DNS,))
        self._manifest = as_list(objects(port, (cluster.pki / "ca.crt").read_bytes(),
                                         host_address()))
        kubectl(cluster, "apply", "-f", "-", stdin=self._manifest)

    def remove(self) -> None:
        from .cluster import ClusterError, kubectl

        with contextlib.suppress(ClusterError, OSError, subprocess.TimeoutExpired):
            kubectl(self.cluster, "delete", "--ignore-not-found", "--wait=false", "-f", "-",
                    stdin=self._manifest)
