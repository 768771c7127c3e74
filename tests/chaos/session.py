"""A cluster for a chaos run: our own local control plane in ``folder`` unless
AGENTTASKS_TEST_KUBECONFIG names one, the CRDs, the chart's RBAC and a fresh namespace."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from agenttasks.api.crd import all_crds
from agenttasks.kube.crds import apply_crds
from tests.integration.harness import REPO, Api, chart_credentials, provide_cluster


@contextlib.contextmanager
def chaos_session(folder: str) -> Iterator[tuple[Api, str, str, Path | None]]:
    """Yields (api, the operator's kubeconfig, namespace, the local control plane's folder or
    None when the cluster is not ours to restart)."""
    with provide_cluster(folder) as kubeconfig:
        root = REPO / folder
        ours = Path(kubeconfig).resolve() == (root / "kubeconfig").resolve()
        api = Api(kubeconfig)
        apply_crds(api.kubeconfig, all_crds())
        # The operator runs as the chart's ServiceAccount: not system:masters, so the API
        # server's in-flight limits apply to it (they exempt system:masters).
        operator_kubeconfig = chart_credentials(api, "chaos", "agenttasks-system")
        namespace = api.create_namespace("chaos")
        try:
            yield api, operator_kubeconfig, namespace, root if ours else None
        finally:
            api.delete_namespace(namespace)
