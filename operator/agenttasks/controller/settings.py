"""The operator's own settings, from its command-line flags, and the split receiver's."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import timedelta

from agenttasks.core.plans import Plan
from agenttasks.core.queue import Aging, Limits
from agenttasks.manifests.progress_token import DEFAULT_AUDIENCE


class WatchedNamespaces:
    """Which namespaces a process serves: both the operator and the receiver have
    ``namespaces`` (names or globs such as 'team-*'; empty means every namespace)."""

    namespaces: tuple[str, ...]

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces

    @property
    def uses_patterns(self) -> bool:
        """Whether some --namespace is a glob: we then watch every namespace and filter."""
        return any(set(ns) & set("*?[") for ns in self.namespaces)

    @property
    def informer_scopes(self) -> list[str | None]:
        """What each informer lists and watches: every namespace (None) when cluster-wide
        or when a glob is given (events are then filtered by ``watches``), else each named
        namespace."""
        if self.clusterwide or self.uses_patterns:
            return [None]
        return list(self.namespaces)

    def watches(self, namespace: str) -> bool:
        return self.clusterwide or any(fnmatch.fnmatchcase(namespace, pattern)
                                       for pattern in self.namespaces)


@dataclass(frozen=True)
class OperatorSettings(WatchedNamespaces):
    namespaces: tuple[str, ...] = ()
    """Namespaces (or globs such as 'team-*') to watch; empty means every namespace."""
    http_port: int = 8080
    workers: int = 8
    kubeconfig: str | None = None
    limits: Limits = field(default_factory=Limits)
    aging: Aging | None = None
    plan: Plan = Plan.ENTERPRISE
    peering: str | None = None
    """kopf peering object name: replicas sharing it act one at a time. None: standalone."""
    priority: int = 0
    identity: str = ""
    peering_lifetime: int = 30
    admission_port: int = 9443
    admission_cert_dir: str | None = None
    """tls.crt and tls.key for the admission webhook server; None: no webhook server."""
    check_writer_rights: bool = True
    """Admission checks that whoever writes a task template may run it (core.privilege)."""
    dashboard_read_only: bool = False
    """The dashboard shows its pages to anyone without a token (actions still need one)."""
    dashboard_token_audiences: tuple[str, ...] = ()
    """The dashboard's TokenReviews ask for these audiences: only a token issued for one of
    them signs in. Empty: the API server's own audience, as kubectl's tokens have."""
    progress_url: str | None = None
    """Base URL of this operator as attempts' pods reach it; None: no progress env."""
    serve_hooks: bool = True
    """False when a split receiver serves POST /hooks/: the operator then answers 404."""
    receiver_user: str | None = None
    """The split receiver's username (system:serviceaccount:<ns>:<name>): the one user whose
    delivery-count reports are taken. None: no report endpoint."""
    receiver_audience: str | None = None
    """The audience the receiver's token must be meant for; None: the API server's."""
    metrics_port: int | None = None
    """/metrics on this port alone; None: on the HTTP port."""
    progress_audience: str = DEFAULT_AUDIENCE
    """The audience of the projected token each attempt's pod reports progress with."""
    default_ttl_after_finished: timedelta | None = None
    """How long a finished task without its own spec.ttlAfterFinished is kept before it is
    deleted; None: kept until someone deletes it."""
    visibility_port: int | None = None
    """HTTPS port of the visibility API for the kube-apiserver's aggregator; None: none."""
    visibility_cert_dir: str | None = None
    """tls.crt and tls.key of the visibility API's Service name."""

    def peering_scopes(self, existing: list[str]) -> list[str | None]:
        """Where kopf keeps this operator's peering objects: one cluster-wide object, or one
        in each namespace it serves. With globs, kopf serves the ``existing`` namespaces that
        match, so those are where the keep-alives are (not a namespace named 'team-*')."""
        if self.clusterwide:
            return [None]
        if self.uses_patterns:
            return [ns for ns in sorted(existing) if self.watches(ns)]
        return list(self.namespaces)


@dataclass(frozen=True)
class ReceiverSettings(WatchedNamespaces):
    """`agenttasks receiver`: webhook deliveries only, reporting counts to the operator."""

    operator_url: str
    """Base URL of the operator's HTTP port, where delivery counts are reported."""
    namespaces: tuple[str, ...] = ()
    http_port: int = 8080
    kubeconfig: str | None = None
    operator_token_file: str | None = None
    """The token presented to the operator, re-read for every report (a projected token
    for the operator's audience); None: the token of the API credentials."""
    metrics_port: int | None = None
