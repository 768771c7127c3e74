"""Integration fixtures: one real cluster per session, one namespace per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agenttasks.api.crd import all_crds
from agenttasks.kube.crds import apply_crds

from .harness import Api, Operator, chart_credentials, provide_cluster, wait_for

# The session's operator watches namespaces with this prefix; tests that run their own
# operator use another prefix so that the two never act on the same objects.
SHARED_PREFIX = "it"
OWN_PREFIX = "own"


@pytest.fixture(scope="session")
def kubeconfig() -> Iterator[str]:
    with provide_cluster() as path:
        yield path


@pytest.fixture(scope="session")
def api(kubeconfig: str) -> Api:
    api = Api(kubeconfig)
    apply_crds(api.kubeconfig, all_crds())
    # Every operator in the suite runs as the chart's ServiceAccount (cluster-wide mode): a
    # permission the chart lacks fails a test, and the admin's rights never hide it.
    api.operator_kubeconfig = chart_credentials(api, "agenttasks", "agenttasks-system")
    return api


@pytest.fixture(scope="session")
def operator(api: Api) -> Iterator[Operator]:
    proc = Operator(api.operator_kubeconfig, [f"{SHARED_PREFIX}-*"], "shared").start()
    # Ready, not just healthy: a task created before the first listing is done waits for the
    # queue's start-up pass and is written Queued, which a test of "admitted at once" sees.
    wait_for(proc.ready, 30, what="the shared operator's /readyz")
    yield proc
    proc.stop()


@pytest.fixture
def ns(api: Api, operator: Operator) -> Iterator[str]:
    """A fresh namespace watched by the shared operator."""
    name = api.create_namespace(SHARED_PREFIX)
    yield name
    api.delete_namespace(name)


@pytest.fixture
def own_ns(api: Api) -> Iterator[str]:
    """A fresh namespace that no shared operator watches."""
    name = api.create_namespace(OWN_PREFIX)
    yield name
    api.delete_namespace(name)
