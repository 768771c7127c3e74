"""The cluster itself: a Ready node, and the real Job controller with simulated pods."""

from __future__ import annotations

import json

from .harness import Api, kubectl, wait_for


def _job_condition(kubeconfig: str, ns: str, name: str) -> str | None:
    out = kubectl(kubeconfig, "get", "job", name, "-n", ns, "-o", "json").stdout
    for condition in json.loads(out).get("status", {}).get("conditions", []):
        if condition["type"] in ("Complete", "Failed") and condition["status"] == "True":
            return str(condition["type"])
    return None


def test_node_is_ready(api: Api) -> None:
    out = kubectl(api.kubeconfig, "get", "nodes", "-o", "json").stdout
    nodes = json.loads(out)["items"]
    ready = [n for n in nodes for c in n["status"].get("conditions", [])
             if c["type"] == "Ready" and c["status"] == "True"]
    assert ready, f"no Ready node among {[n['metadata']['name'] for n in nodes]}"


def test_plain_job_completes(api: Api, own_ns: str) -> None:
    kubectl(api.kubeconfig, "create", "job", "x", "-n", own_ns, "--image=busybox", "--", "true")
    outcome = wait_for(lambda: _job_condition(api.kubeconfig, own_ns, "x"), 60,
                       what="job x to finish")
    assert outcome == "Complete"


def test_job_with_failed_annotation_fails(api: Api, own_ns: str) -> None:
    job = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "f", "namespace": own_ns},
        "spec": {"backoffLimit": 0, "template": {
            "metadata": {"annotations": {"sim.agenttasks.io/result": "Failed"}},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "c", "image": "busybox"}]}}},
    }
    kubectl(api.kubeconfig, "apply", "-f", "-", stdin=json.dumps(job))
    outcome = wait_for(lambda: _job_condition(api.kubeconfig, own_ns, "f"), 60,
                       what="job f to finish")
    assert outcome == "Failed"
    pods = api.core.list_namespaced_pod(own_ns, label_selector="job-name=f").items
    exit_codes = [s.state.terminated.exit_code for p in pods
                  for s in p.status.container_statuses or [] if s.state.terminated]
    assert exit_codes == [1]
