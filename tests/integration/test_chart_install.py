"""`helm install` of the chart on the real API server (the operator's pod is simulated by
kwok there), and the values schema refusing a wrong value."""

from __future__ import annotations

import subprocess
import uuid

from .harness import CHART, Api, kubectl


def helm(api: Api, *args: str) -> subprocess.CompletedProcess[str]:
    from agenttasks.devcluster.toolchain import binary

    return subprocess.run([str(binary("helm")), "--kubeconfig", api.kubeconfig, *args],
                          capture_output=True, text=True, timeout=180)


def test_install_creates_every_object_and_uninstall_removes_them(api: Api) -> None:
    release, ns = f"inst-{uuid.uuid4().hex[:5]}", f"own-chart-{uuid.uuid4().hex[:5]}"
    # The webhook would point at a simulated pod nobody answers in: Ignore keeps the rest
    # of the suite's applies working while the release exists.
    installed = helm(api, "install", release, str(CHART), "--namespace", ns,
                     "--create-namespace", "--set", "replicas=2",
                     "--set", "admissionWebhook.failurePolicy=Ignore", "--wait=false")
    try:
        assert installed.returncode == 0, installed.stderr
        manifest = helm(api, "get", "manifest", release, "--namespace", ns).stdout
        kinds = {line.split(":", 1)[1].strip() for line in manifest.splitlines()
                 if line.startswith("kind:")}
        assert {"Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service",
                "ValidatingWebhookConfiguration", "Secret", "ClusterKopfPeering"} <= kinds
        listed = kubectl(api.kubeconfig, "get", "-f", "-", "-o", "name", stdin=manifest)
        assert len(listed.stdout.split()) == manifest.count("\nkind:") + \
            manifest.startswith("kind:")
        deployment = kubectl(api.kubeconfig, "get", "deployment", "-n", ns, "-o",
                             "jsonpath={.items[0].spec.replicas}").stdout
        assert deployment == "2"
    finally:
        helm(api, "uninstall", release, "--namespace", ns)
        kubectl(api.kubeconfig, "delete", "namespace", ns, "--wait=false", check=False)


def test_a_wrong_value_is_refused_by_the_schema(api: Api) -> None:
    for value, word in (("replicas=0", "replicas"), ("plan=gold", "plan"),
                        ("nosuchvalue=1", "nosuchvalue")):
        result = helm(api, "install", "refused", str(CHART), "--namespace", "default",
                      "--set", value, "--dry-run")
        assert result.returncode != 0 and word in result.stderr, (value, result.stderr)
