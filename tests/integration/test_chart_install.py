"""`helm install` of the chart on the real API server (the operator's pod is simulated by
kwok there), and the values schema refusing a wrong value."""

from __future__ import annotations

import subprocess
import uuid

from kubernetes import client

from .harness import CHART, Api, kubectl, wait_for


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
        people_may_use_our_kinds_by_their_built_in_roles(api, ns)
    finally:
        helm(api, "uninstall", release, "--namespace", ns)
        kubectl(api.kubeconfig, "delete", "namespace", ns, "--wait=false", check=False)


def people_may_use_our_kinds_by_their_built_in_roles(api: Api, ns: str) -> None:
    """The chart's roles for people, gathered by the real aggregation controller into the
    built-in view and edit: a viewer reads tasks, an editor writes them, neither had a rule
    of ours bound to them."""
    rbac = client.RbacAuthorizationV1Api(api.client)
    for person, role in (("viewer", "view"), ("editor", "edit")):
        rbac.create_namespaced_role_binding(ns, {
            "metadata": {"name": person},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": role},
            "subjects": [{"kind": "User", "name": person,
                          "apiGroup": "rbac.authorization.k8s.io"}]})

    def may(person: str, verb: str, what: str, *more: str) -> bool:
        answer = kubectl(api.kubeconfig, "auth", "can-i", verb, what, *more, "-n", ns, "--as",
                         person, check=False).stdout.strip()
        return answer == "yes"

    wait_for(lambda: may("editor", "create", "agenttasks.agenttasks.io") or None, 30,
             what="the edit role to gather the chart's agenttasks-edit")
    for kind in ("agenttasks", "agenttaskschedules", "agenttasktriggers"):
        assert may("viewer", "list", f"{kind}.agenttasks.io")
        assert not may("viewer", "create", f"{kind}.agenttasks.io")
        assert may("editor", "patch", f"{kind}.agenttasks.io")
    assert not may("editor", "patch", "agenttasks.agenttasks.io", "--subresource=status")


def test_a_wrong_value_is_refused_by_the_schema(api: Api) -> None:
    for value, word in (("replicas=0", "replicas"), ("plan=gold", "plan"),
                        ("nosuchvalue=1", "nosuchvalue")):
        result = helm(api, "install", "refused", str(CHART), "--namespace", "default",
                      "--set", value, "--dry-run")
        assert result.returncode != 0 and word in result.stderr, (value, result.stderr)
