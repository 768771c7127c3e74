"""Real containers on a real node: the operator's own image from its chart, a real agent's
progress, result and logs, a trigger's payload file, a dependency's result read from the
inputs file, pause and timeout stopping a real container, `kubectl get pendingtasks` through
the chart's APIService, a takeover between two operator pods, and a `cluster down` that
leaves nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from agenttasks.devcluster import cluster as local
from agenttasks.devcluster import hoststate, images, realnode
from tests.integration.harness import kubectl, wait_for

from .conftest import (
    OPERATOR,
    REAL_POD,
    RECEIVER,
    RELEASE,
    RELEASE_NS,
    RealCluster,
    _admitted,
    _ready,
    agent_template,
)

pytestmark = [pytest.mark.integration, pytest.mark.realnode, pytest.mark.timeout(600)]
NS = "default"
PEERING_LIFETIME = 30  # the operator's --peering-lifetime default, which the chart keeps


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:5]}"


def _task_pods(real: RealCluster, job: str) -> list[Any]:
    return list(real.api.core.list_namespaced_pod(NS, label_selector=f"job-name={job}").items)


def _log(real: RealCluster, pod: str) -> str:
    try:
        return str(real.api.core.read_namespaced_pod_log(pod, NS))
    except ApiException:
        return ""


def _follow(real: RealCluster, pod: str, into: list[str]) -> threading.Thread:
    """Streams a pod's log into ``into`` until the container ends (it may be deleted)."""
    def run() -> None:
        try:
            stream = real.api.core.read_namespaced_pod_log(pod, NS, follow=True,
                                                           _preload_content=False)
            for line in stream:
                into.append(line.decode(errors="replace"))
        except Exception:  # the pod went away: what was read is what counts
            return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_the_operator_runs_from_its_image_and_chart_on_the_real_node(real: RealCluster) -> None:
    [receiver] = real.receiver_pods()  # the split receiver, on the real node too
    receiver_spec = receiver["spec"]
    assert isinstance(receiver_spec, dict) and receiver_spec["nodeName"] == realnode.NODE_NAME
    assert receiver_spec["serviceAccountName"] == RECEIVER
    assert _ready(receiver)
    [pod] = real.operator_pods()
    spec, status = pod["spec"], pod["status"]
    assert isinstance(spec, dict) and isinstance(status, dict)
    assert spec["nodeName"] == realnode.NODE_NAME
    assert spec["serviceAccountName"] == "agenttasks-agenttask-operator"
    assert spec["containers"][0]["image"] == images.OPERATOR_IMAGE
    assert _ready(pod)
    [state] = status["containerStatuses"]
    assert state["state"].get("running"), state


def test_a_real_agent_reports_progress_leaves_a_result_and_its_logs(real: RealCluster) -> None:
    name = _name("agent")
    real.api.create_task(NS, {"metadata": {"name": name}, "spec": {
        "template": agent_template(AGENT_STEPS="4", AGENT_STEP_SECONDS="1.5")}})

    def reported() -> dict[str, Any] | None:
        progress = real.api.status(NS, name).get("progress") or {}
        return progress if progress.get("total") == 4 and 0 < progress.get("completed", 0) < 4 \
            else None

    progress = wait_for(reported, 120, interval=0.3, what="the agent's own progress in status")
    assert str(progress.get("message", "")).startswith("step ")
    status = real.api.wait_phase(NS, name, "Completed", 120)
    result = json.loads(status["result"]["message"])
    assert result == {"steps": 4, "summary": "finished 4 steps"}
    logs = subprocess.run([sys.executable, "-m", "agenttasks", "logs", name, "-n", NS],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "KUBECONFIG": real.kubeconfig})
    assert logs.returncode == 0, logs.stderr
    assert "agent: step 4 done (progress reported: True)" in logs.stdout
    assert "agent: done" in logs.stdout


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _cluster_ip(real: RealCluster, service: str) -> str:
    return str(real.api.core.read_namespaced_service(service, RELEASE_NS).spec.cluster_ip)


def test_a_trigger_payload_reaches_a_real_pod(real: RealCluster) -> None:
    """Delivered through the split receiver's Service; counted in the trigger's status by
    the operator, whose own Service does not serve /hooks/."""
    name, secret = _name("hook"), "github-key"
    real.api.core.create_namespaced_secret(NS, {"metadata": {"name": f"{name}-secret"},
                                                "stringData": {"key": secret}})
    real.api.custom.create_namespaced_custom_object("agenttasks.io", "v1alpha1", NS,
                                                    "agenttasktriggers", {
        "apiVersion": "agenttasks.io/v1alpha1", "kind": "AgentTaskTrigger",
        "metadata": {"name": name},
        "spec": {"secretRef": {"name": f"{name}-secret", "key": "key"}, "signature": "github",
                 "taskTemplate": {"spec": {"template": agent_template(AGENT_STEPS="1")}}}})
    path = f"/hooks/{NS}/{name}"
    body = json.dumps({"ref": "refs/heads/main", "note": "from a real delivery"}).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-GitHub-Delivery": name,
               "X-Hub-Signature-256": f"sha256={digest}"}

    def deliver() -> dict[str, Any] | None:
        try:
            status, answer = _post(f"http://{_cluster_ip(real, RECEIVER)}:80{path}", body,
                                   headers)
        except OSError:
            return None  # kube-proxy has not programmed the Service yet
        # 404 until the receiver's watch has the trigger
        return dict(json.loads(answer)) if status == 202 else None

    task = wait_for(deliver, 60, interval=1, what="a 202 from the receiver's Service")["task"]
    real.api.wait_phase(NS, task, "Completed", 120)
    [pod] = _task_pods(real, f"{task}-1")
    assert 'agent: payload {"ref": "refs/heads/main", "note": "from a real delivery"}' in \
        _log(real, pod.metadata.name)

    # The receiver counted it; the operator, the one writer of trigger status, wrote it.
    def counted() -> dict[str, Any] | None:
        status = real.api.custom.get_namespaced_custom_object(
            "agenttasks.io", "v1alpha1", NS, "agenttasktriggers", name).get("status") or {}
        deliveries = status.get("deliveries") or {}
        return status if deliveries.get("accepted") == 1 else None

    status = wait_for(counted, 30, what="the delivery counted in the trigger's status")
    assert status["deliveries"] == {"accepted": 1, "duplicate": 0, "rejected": 0}
    assert status.get("lastTriggeredTime")

    # The operator's own Service does not serve /hooks/ in this install...
    answer, _ = _post(f"http://{_cluster_ip(real, OPERATOR)}:80{path}", body, headers)
    assert answer == 404
    # ...and the receiver, which does, may not run anything.
    account = f"system:serviceaccount:{RELEASE_NS}:{RECEIVER}"
    for verb, resource in (("create", "jobs.batch"), ("create", "pods"), ("list", "secrets")):
        can = kubectl(real.kubeconfig, "auth", "can-i", verb, resource, "-n", NS,
                      "--as", account, check=False)
        assert can.stdout.strip() == "no", (verb, resource, can.stdout, can.stderr)
    can = kubectl(real.kubeconfig, "auth", "can-i", "create", "agenttasks.agenttasks.io",
                  "-n", NS, "--as", account, check=False)
    assert can.stdout.strip() == "yes", can.stderr


def _shell_template(script: str) -> dict[str, Any]:
    """A pod template of the busybox image that runs ``script``, on the real node."""
    return {"spec": {**REAL_POD, "containers": [{
        "name": "agent", "image": images.BUSYBOX_IMAGE, "imagePullPolicy": "Never",
        "command": ["sh", "-c", script]}]}}


def test_a_real_container_reads_the_results_of_the_step_before_it(real: RealCluster) -> None:
    """The kubelet writes the Job's inputs annotation into the file AGENTTASK_INPUTS names;
    the next step's container prints it, and passes it on as its own result."""
    extract, load = _name("extract"), _name("load")
    real.api.create_task(NS, {"metadata": {"name": load}, "spec": {
        "dependsOn": [extract], "template": _shell_template(
            'echo "inputs at $AGENTTASK_INPUTS:"; cat "$AGENTTASK_INPUTS"; echo; '
            'cp "$AGENTTASK_INPUTS" /dev/termination-log')}})
    real.api.create_task(NS, {"metadata": {"name": extract}, "spec": {
        "template": _shell_template("echo s3://bucket/raw/real-node/ > /dev/termination-log")}})
    status = real.api.wait_phase(NS, load, "Completed", 120)
    expected = [{"name": extract, "phase": "Completed", "reason": "Succeeded",
                 "result": {"attempt": 1, "message": "s3://bucket/raw/real-node/\n"}}]
    assert json.loads(status["result"]["message"]) == expected
    [pod] = _task_pods(real, f"{load}-1")
    log = _log(real, pod.metadata.name)
    assert "inputs at /var/run/agenttask-inputs/inputs.json:" in log
    printed = log.split("inputs at /var/run/agenttask-inputs/inputs.json:", 1)[1].strip()
    assert json.loads(printed) == expected


def test_pause_stops_the_real_container_and_resume_runs_it_again(real: RealCluster) -> None:
    name = _name("pause")
    real.api.create_task(NS, {"metadata": {"name": name}, "spec": {
        "template": agent_template(AGENT_FOREVER="1", AGENT_STEP_SECONDS="1")}})
    real.api.wait_phase(NS, name, "InProgress", 60)
    first = wait_for(lambda: [p for p in _task_pods(real, f"{name}-1")
                              if "step 1 done" in _log(real, p.metadata.name)] or None, 90,
                     what="the agent's first step")[0].metadata.name
    lines: list[str] = []
    follower = _follow(real, first, lines)
    real.api.patch_task(NS, name, {"spec": {"paused": True}})
    real.api.wait_phase(NS, name, "Paused", 60)
    wait_for(lambda: not any(p.metadata.name == first for p in _task_pods(real, f"{name}-1"))
             or None, 90, what="the paused pod to be gone")
    follower.join(timeout=30)
    assert any("agent: received SIGTERM, stopping" in line for line in lines), lines[-5:]
    real.api.patch_task(NS, name, {"spec": {"paused": False}})
    real.api.wait_phase(NS, name, "InProgress", 60)
    wait_for(lambda: [p for p in _task_pods(real, f"{name}-1") if p.metadata.name != first
                      and "step 1 done" in _log(real, p.metadata.name)] or None, 90,
             what="a new pod running after resume")
    real.api.patch_task(NS, name, {"spec": {"cancelled": True}})
    real.api.wait_phase(NS, name, "Cancelled", 60)


def test_a_timeout_ends_a_real_container_that_sleeps_forever(real: RealCluster) -> None:
    name = _name("timeout")
    real.api.create_task(NS, {"metadata": {"name": name}, "spec": {
        "timeout": "5s", "template": agent_template(AGENT_FOREVER="1")}})
    status = real.api.wait_phase(NS, name, "Failed", 120, reason="TimedOut")
    assert "exceeded its timeout of 5s" in status["message"]


def _pending(real: RealCluster, name: str) -> dict[str, Any] | None:
    """The PendingTask ``name`` as `kubectl get pendingtasks` shows it, or None."""
    shown = kubectl(real.kubeconfig, "get", "pendingtasks", "-n", NS, "-o", "json", check=False)
    if shown.returncode != 0:
        return None
    found = [i for i in json.loads(shown.stdout)["items"] if i["metadata"]["name"] == name]
    return found[0] if found else None


def test_kubectl_get_pendingtasks_reaches_the_operator_pod(real: RealCluster) -> None:
    """The chart's APIService, Service and serving certificate: the API server's aggregator
    calls the operator's pod on the real node."""
    name = _name("later")
    real.api.create_task(NS, {"metadata": {"name": name}, "spec": {
        "startAfter": "2099-01-01T00:00:00Z", "template": agent_template()}})
    try:
        item = wait_for(lambda: _pending(real, name), 90, interval=1,
                        what="kubectl get pendingtasks to show the task")
        assert (item["reason"], item["until"]) == ("StartAfter", "2099-01-01T00:00:00Z"), item
        table = kubectl(real.kubeconfig, "get", "pendingtasks", "-n", NS).stdout
        assert name in table and "StartAfter" in table, table
    finally:
        real.api.delete_task(NS, name)


def test_two_replicas_take_over_and_no_task_runs_twice(real: RealCluster) -> None:
    # No --wait: a standby is never Ready, by design.
    real.helm("upgrade", RELEASE, str(images.REPO / "charts" / "agenttask-operator"),
              "--namespace", RELEASE_NS, "--reuse-values", "--set", "replicas=2")
    def settled() -> dict[str, Any] | None:
        """Two pods, both in the peering object, and the Ready one is the one peering leaves
        active (the highest priority): a pod that starts first acts until the other's
        keep-alive appears, then steps aside."""
        pods = real.operator_pods()
        ready = [p for p in pods if _ready(p)]
        peers = (real.api.custom.get_cluster_custom_object(
            "kopf.dev", "v1", "clusterkopfpeerings", f"{RELEASE}-agenttask-operator")
            .get("status") or {})
        if len(pods) != 2 or len(ready) != 1 or len(peers) < 2:
            return None
        names = {p["metadata"]["name"] for p in pods}
        live = {peer: info for peer, info in peers.items() if peer.split("@")[0] in names}
        if len(live) != 2:
            return None
        top = max(live, key=lambda peer: int(live[peer].get("priority", 0)))
        active: dict[str, Any] = ready[0]["metadata"]
        return active if top.split("@")[0] == active["name"] else None

    active = wait_for(settled, 120, what="two operator pods, the highest-priority one Ready")
    wait_for(lambda: _admitted(real.api), 60, what="the active replica's admission webhook")
    name = _name("takeover")
    real.api.create_task(NS, {"metadata": {"name": name}, "spec": {
        "template": agent_template(AGENT_STEPS="12", AGENT_STEP_SECONDS="1")}})
    real.api.wait_phase(NS, name, "InProgress", 60)
    killed = time.monotonic()
    real.api.core.delete_namespaced_pod(active["name"], RELEASE_NS, grace_period_seconds=0)
    # Within the peering lifetime (--peering-lifetime, 30 s), plus the readiness probe's
    # period (5 s) and the leadership check's second.
    wait_for(lambda: [p for p in real.operator_pods()
                      if _ready(p) and p["metadata"]["name"] != active["name"]] or None,
             PEERING_LIFETIME + 10, what="the standby to become the active operator")
    took = time.monotonic() - killed
    print(f"takeover after {took:.1f}s")
    assert took <= PEERING_LIFETIME + 10
    status = real.api.wait_phase(NS, name, "Completed", 120)
    assert status["attempts"] == 1
    assert [j.metadata.name for j in real.api.jobs(NS, name)] == [f"{name}-1"]
    # Only the Ready (active) replica is the Service's endpoint: the queue is read from it.
    later = _name("later")
    real.api.create_task(NS, {"metadata": {"name": later}, "spec": {
        "startAfter": "2099-01-01T00:00:00Z", "template": agent_template()}})
    wait_for(lambda: _pending(real, later), 90, interval=1,
             what="the new active replica to answer kubectl get pendingtasks")
    real.api.delete_task(NS, later)


def test_zz_cluster_down_leaves_nothing_of_ours_behind(real: RealCluster) -> None:
    """Runs last in this module: stops the cluster (the fixture's own stop is then a no-op)
    and compares the host with what it was before the real node started."""
    running = hoststate.read((real.root, realnode.STATE))
    assert running.processes and running.mounts and running.chains and running.cgroups, \
        "the real node should have changed the host while it ran"
    local.down(real.root)
    after = hoststate.read((real.root, realnode.STATE))
    assert after.left_behind(real.before) == {}
    assert not realnode.STATE.exists()
