"""A local cluster with a real node (containerd, runc, kubelet), the operator's own image
built here from the Dockerfile and installed by its own chart, and the example agent's image.
The chart runs the webhook receiver split (its own Deployment and ServiceAccount) and
registers the visibility API (kubectl get pendingtasks).
One per test module, in .cluster-real; the machine allows one real node at a time."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agenttasks.devcluster import cluster as local
from agenttasks.devcluster import hoststate, images, realnode
from agenttasks.devcluster.toolchain import binary
from tests.integration.harness import REPO, Api, wait_for

FOLDER = REPO / ".cluster-real"
RELEASE, RELEASE_NS = "agenttasks", "agenttasks-system"
OPERATOR = f"{RELEASE}-agenttask-operator"  # the chart's full name: Deployment, Service
RECEIVER = f"{OPERATOR}-receiver"  # the split receiver's Deployment, Service, ServiceAccount
REAL_POD = {"nodeSelector": {realnode.NODE_LABEL: "real"},
            "tolerations": [{"key": realnode.TAINT_KEY, "operator": "Exists",
                             "effect": "NoSchedule"}]}
CHART_VALUES = (
    "image.repository=agenttasks.local/agenttask-operator", "image.tag=dev",
    "image.pullPolicy=Never", f"nodeSelector.{realnode.NODE_LABEL.replace('.', chr(92) + '.')}"
    "=real", f"tolerations[0].key={realnode.TAINT_KEY}", "tolerations[0].operator=Exists",
    "tolerations[0].effect=NoSchedule", "receiver.split=true", "visibilityAPI.enabled=true")


@dataclass
class RealCluster:
    api: Api
    kubeconfig: str
    root: Path
    before: hoststate.HostState

    def helm(self, *args: str) -> str:
        import subprocess

        result = subprocess.run([str(binary("helm")), "--kubeconfig", self.kubeconfig, *args],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def operator_pods(self) -> list[dict[str, object]]:
        pods = self.api.core.list_namespaced_pod(
            RELEASE_NS, label_selector="app.kubernetes.io/name=agenttask-operator").items
        return [self.api.client.sanitize_for_serialization(p) for p in pods
                if p.metadata.deletion_timestamp is None]

    def receiver_pods(self) -> list[dict[str, object]]:
        pods = self.api.core.list_namespaced_pod(
            RELEASE_NS, label_selector="app.kubernetes.io/name=agenttask-operator-receiver").items
        return [self.api.client.sanitize_for_serialization(p) for p in pods
                if p.metadata.deletion_timestamp is None]


def agent_template(**env: str) -> dict[str, object]:
    """A pod template of the example agent that runs on the real node."""
    return {"spec": {**REAL_POD, "containers": [{
        "name": "agent", "image": images.AGENT_IMAGE, "imagePullPolicy": "Never",
        "env": [{"name": k, "value": v} for k, v in env.items()]}]}}


def _ready(pod: dict[str, object]) -> bool:
    status = pod.get("status") or {}
    assert isinstance(status, dict)
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in status.get("conditions") or [])


def _admitted(api: Api) -> bool:
    """A server-side dry run of a task passes through the operator's admission webhook."""
    from kubernetes.client.exceptions import ApiException

    try:
        api.custom.create_namespaced_custom_object(
            "agenttasks.io", "v1alpha1", "default", "agenttasks",
            {"apiVersion": "agenttasks.io/v1alpha1", "kind": "AgentTask",
             "metadata": {"name": "webhook-probe"}, "spec": {"template": agent_template()}},
            dry_run="All")
    except ApiException:
        return False
    return True


@pytest.fixture(scope="module")
def real() -> Iterator[RealCluster]:
    if os.environ.get("AGENTTASKS_TEST_KUBECONFIG"):
        pytest.skip("adds a real node to the local control plane: not with the cluster in "
                    "AGENTTASKS_TEST_KUBECONFIG")
    if os.geteuid() != 0:
        pytest.skip("a real node needs root (containerd, the kubelet, iptables)")
    owned = (FOLDER, realnode.STATE)
    local.down(FOLDER, say=lambda _m: None)  # a fresh cluster: nothing of an earlier run
    shutil.rmtree(FOLDER, ignore_errors=True)
    before = hoststate.read(owned)
    try:
        cluster = local.up(FOLDER, real_node=True)
        for archive in (images.operator_archive(print), images.agent_archive(print)):
            realnode.load_image(archive)
        real = RealCluster(Api(str(cluster.kubeconfig)), str(cluster.kubeconfig), FOLDER,
                           before)
        sets = [arg for value in CHART_VALUES for arg in ("--set", value)]
        real.helm("install", RELEASE, str(REPO / "charts" / "agenttask-operator"),
                  "--namespace", RELEASE_NS, "--create-namespace", *sets, "--wait",
                  "--timeout", "180s")
        wait_for(lambda: any(_ready(p) for p in real.operator_pods()), 60,
                 what="a Ready operator pod")
        wait_for(lambda: any(_ready(p) for p in real.receiver_pods()), 60,
                 what="a Ready receiver pod")
        # kube-proxy programs the webhook's Service a moment after the pod is Ready.
        wait_for(lambda: _admitted(real.api), 60, what="the admission webhook to answer")
        yield real
    finally:
        local.down(FOLDER)
