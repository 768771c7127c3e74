"""No privilege gained through our kinds, tried as an attacker on the real API server: users
with chosen RBAC rules apply tasks and schedules through the real admission chain (the
operator's webhook, its SubjectAccessReviews), and a cluster-wide operator meets a task in
its own namespace."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from agenttasks.api.meta import GROUP, VERSION

from .admission_webhook import admission_operator
from .harness import (
    Api,
    Operator,
    chart_credentials,
    kubectl,
    pod_template,
    user_credentials,
)

OURS = {"apiGroups": [GROUP], "resources": ["agenttasks", "agenttaskschedules"],
        "verbs": ["get", "list", "create", "patch"]}
JOBS = {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]}


@pytest.fixture
def webhook(api: Api, own_ns: str, tmp_path: Path) -> Iterator[str]:
    """An operator serving admission for own_ns (as in test_admission), checking writers."""
    with admission_operator(api, own_ns, tmp_path, "privilege") as namespace:
        yield namespace


def task(name: str, **spec: Any) -> dict[str, Any]:
    template = pod_template()
    template["spec"].update(spec)
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTask",
            "metadata": {"name": name}, "spec": {"template": template}}


def apply_as(kubeconfig: str, ns: str, body: dict[str, Any]) -> tuple[int, str]:
    result = kubectl(kubeconfig, "create", "-n", ns, "-f", "-", stdin=yaml.safe_dump(body),
                     check=False)
    return result.returncode, result.stderr


def exists(api: Api, ns: str, plural: str, name: str) -> bool:
    try:
        api.custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def test_without_create_jobs_no_task_at_all(api: Api, webhook: str) -> None:
    mallory = user_credentials(api, webhook, "mallory", [OURS])
    code, err = apply_as(mallory, webhook, task("plain"))
    assert code != 0, "a user without create jobs created a task"
    assert "denied the request" in err
    assert f"may not create jobs.batch in namespace '{webhook}'" in err
    assert not exists(api, webhook, "agenttasks", "plain")


def test_another_service_account_needs_impersonate(api: Api, webhook: str) -> None:
    api.core.create_namespaced_service_account(webhook, {"metadata": {"name": "deployer"}})
    builder = user_credentials(api, webhook, "builder", [OURS, JOBS])
    code, err = apply_as(builder, webhook, task("as-deployer", serviceAccountName="deployer"))
    assert code != 0, "a user without impersonate ran a task as another ServiceAccount"
    assert "may not impersonate serviceaccounts 'deployer'" in err
    assert not exists(api, webhook, "agenttasks", "as-deployer")
    # The same user may run a plain task: exactly what they could do with a Job.
    code, err = apply_as(builder, webhook, task("plain"))
    assert code == 0, err
    api.wait_phase(webhook, "plain", "Completed", 60)
    # With impersonate on that one account (as the built-in edit role grants), it runs.
    deployer = user_credentials(api, webhook, "lead", [OURS, JOBS, {
        "apiGroups": [""], "resources": ["serviceaccounts"], "resourceNames": ["deployer"],
        "verbs": ["impersonate"]}])
    code, err = apply_as(deployer, webhook, task("as-deployer", serviceAccountName="deployer"))
    assert code == 0, err
    api.wait_phase(webhook, "as-deployer", "Completed", 60)


def test_a_schedule_by_a_user_without_create_jobs_creates_nothing(api: Api,
                                                                   webhook: str) -> None:
    mallory = user_credentials(api, webhook, "mallory", [OURS])
    every_minute = {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTaskSchedule",
        "metadata": {"name": "sneaky"},
        "spec": {"schedule": "* * * * *",
                 "taskTemplate": {"spec": {"template": pod_template()}}}}
    code, err = apply_as(mallory, webhook, every_minute)
    assert code != 0 and "may not create jobs.batch" in err
    assert not exists(api, webhook, "agenttaskschedules", "sneaky")
    # Written by the admin, the same schedule is accepted; mallory may not then swap in a
    # template of her own (an update that changes the template is checked for its writer).
    code, err = apply_as(api.kubeconfig, webhook, every_minute)
    assert code == 0, err
    patch = kubectl(mallory, "patch", "-n", webhook, "agenttaskschedule", "sneaky",
                    "--type=merge", "-p", yaml.safe_dump({"spec": {"taskTemplate": {"spec": {
                        "template": {"spec": {"serviceAccountName": "deployer"}}}}}}),
                    check=False)
    assert patch.returncode != 0  # mallory may patch schedules: our webhook refuses this
    assert "may not create jobs.batch" in patch.stderr, patch.stderr
    body = api.custom.get_namespaced_custom_object(GROUP, VERSION, webhook,
                                                   "agenttaskschedules", "sneaky")
    assert "serviceAccountName" not in body["spec"]["taskTemplate"]["spec"]["template"]["spec"]


def test_a_cluster_wide_operator_runs_nothing_in_its_own_namespace(
        api: Api, own_ns: str) -> None:
    """The operator's namespace holds its ServiceAccount's token; a task there could run as
    it. Cluster-wide, that namespace is served only when named; other namespaces run."""
    home = api.create_namespace("atk-home")
    try:
        kubeconfig = chart_credentials(api, "atkw", home)  # cluster-wide RBAC, SA in home
        api.create_task(home, task("in-home"))
        api.create_task(own_ns, task("elsewhere"))
        operator = Operator(kubeconfig, [], "privilege-cluster-wide").start()
        try:
            refused = api.wait_phase(home, "in-home", "Failed", 60)
            assert refused["reason"] == "NotPermitted"
            assert "operator's own" in refused["message"]
            api.wait_phase(own_ns, "elsewhere", "Completed", 60)
            assert api.jobs(home, "in-home") == []
        finally:
            operator.stop()
    finally:
        api.delete_namespace(home)
        delete_cluster_rbac(api, "atkw")


def test_the_operators_own_namespace_runs_when_named_but_never_as_the_operator(
        api: Api) -> None:
    home = api.create_namespace("atk-named")
    try:
        kubeconfig = chart_credentials(api, "atkn", home)
        account = "atkn-agenttask-operator"  # the chart's ServiceAccount: the operator's own
        api.create_task(home, task("plain"))
        api.create_task(home, task("as-operator", serviceAccountName=account))
        operator = Operator(kubeconfig, [home], "privilege-named").start()
        try:
            api.wait_phase(home, "plain", "Completed", 60)
            refused = api.wait_phase(home, "as-operator", "Failed", 60)
            assert refused["reason"] == "NotPermitted"
            assert "own ServiceAccount" in refused["message"]
            assert api.jobs(home, "as-operator") == []
        finally:
            operator.stop()
    finally:
        api.delete_namespace(home)
        delete_cluster_rbac(api, "atkn")


def delete_cluster_rbac(api: Api, release: str) -> None:
    """The cluster-scoped RBAC objects chart_credentials applied for ``release``."""
    rbac = client.RbacAuthorizationV1Api(api.client)
    for name in (f"{release}-agenttask-operator", f"{release}-agenttask-operator-reviews"):
        for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role):
            with contextlib.suppress(ApiException):
                delete(name)
