"""The simulated pods (kwok stages in devcluster/stages.yaml): every failure path that the
``sim.agenttasks.io/*`` annotations steer, shown with bare batch/v1 Jobs under the real Job
controller, plus the paths that need no annotation (eviction, Pod Security Admission)."""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client, watch

from .harness import Api, wait_for

SIM = "sim.agenttasks.io"


def _job(name: str, annotations: dict[str, str] | None = None, *,
         labels: dict[str, str] | None = None, env: dict[str, str] | None = None,
         image: str = "busybox", **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "agent", "image": image}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    template = {"metadata": {"annotations": annotations or {}, "labels": labels or {}},
                "spec": {"restartPolicy": "Never", "containers": [container]}}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": 0, **spec, "template": template}}


def _finished(api: Api, ns: str, name: str) -> str | None:
    """Complete or Failed once the Job controller says so."""
    job = api.batch.read_namespaced_job(name, ns)
    for condition in job.status.conditions or []:
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return str(condition.type)
    return None


def _wait_finished(api: Api, ns: str, name: str, timeout: float = 60) -> str:
    return wait_for(lambda: _finished(api, ns, name), timeout, what=f"Job {name} to finish")


def _pods(api: Api, ns: str, job: str) -> list[Any]:
    return list(api.core.list_namespaced_pod(ns, label_selector=f"job-name={job}").items)


def _terminated(pod: Any) -> list[Any]:
    return [s.state.terminated for s in pod.status.container_statuses or []
            if s.state and s.state.terminated]


def _index(pod: Any) -> int:
    return int(pod.metadata.annotations["batch.kubernetes.io/job-completion-index"])


def test_exit_code_annotation_fails_the_pod_with_that_code(api: Api, own_ns: str) -> None:
    api.batch.create_namespaced_job(own_ns, _job("code", {f"{SIM}/exit-code": "3"}))
    assert _wait_finished(api, own_ns, "code") == "Failed"
    [pod] = _pods(api, own_ns, "code")
    assert pod.status.phase == "Failed"
    assert [(t.exit_code, t.reason) for t in _terminated(pod)] == [(3, "Error")]


def test_items_fail_always_or_once_under_backoff_limit_per_index(api: Api, own_ns: str) -> None:
    # Positions 0..5 run items 3, 7, 12, 20, 21, 22: index 1 is item 7, index 4 is item 21.
    job = _job("items", {f"{SIM}/fail-items-once": "7", f"{SIM}/fail-items": "21"},
               env={"AGENTTASK_ITEMS": "3,7,12,20-22"}, completions=6, parallelism=6,
               completionMode="Indexed", backoffLimitPerIndex=1)
    del job["spec"]["backoffLimit"]  # the Job controller defaults it with backoffLimitPerIndex
    api.batch.create_namespaced_job(own_ns, job)
    assert _wait_finished(api, own_ns, "items", 90) == "Failed"
    status = api.batch.read_namespaced_job("items", own_ns).status
    assert status.failed_indexes == "4"
    assert status.completed_indexes == "0-3,5"
    runs: dict[int, list[tuple[str, int]]] = {}
    for pod in sorted(_pods(api, own_ns, "items"), key=lambda p: p.metadata.creation_timestamp):
        [terminated] = _terminated(pod)
        runs.setdefault(_index(pod), []).append((pod.status.phase, terminated.exit_code))
    assert runs[1] == [("Failed", 1), ("Succeeded", 0)]
    assert runs[4] == [("Failed", 1), ("Failed", 1)]
    assert all(runs[i] == [("Succeeded", 0)] for i in (0, 2, 3, 5)), runs


def test_fail_items_without_item_list_use_the_completion_index(api: Api, own_ns: str) -> None:
    # No AGENTTASK_ITEMS: the item is the completion index. exit-code only sets the code here,
    # because fail-items says which pods fail.
    job = _job("bare", {f"{SIM}/fail-items": "1", f"{SIM}/exit-code": "42"},
               completions=2, parallelism=2, completionMode="Indexed",
               backoffLimitPerIndex=0)
    del job["spec"]["backoffLimit"]
    api.batch.create_namespaced_job(own_ns, job)
    assert _wait_finished(api, own_ns, "bare") == "Failed"
    status = api.batch.read_namespaced_job("bare", own_ns).status
    assert (status.completed_indexes, status.failed_indexes) == ("0", "1")
    codes = {_index(p): [t.exit_code for t in _terminated(p)] for p in _pods(api, own_ns, "bare")}
    assert codes == {0: [0], 1: [42]}


def test_oom_first_attempt_kills_attempt_one_only(api: Api, own_ns: str) -> None:
    oom = {f"{SIM}/oom-first-attempt": "true"}
    api.batch.create_namespaced_job(own_ns, _job("a1", oom, labels={"agenttasks.io/attempt": "1"}))
    api.batch.create_namespaced_job(own_ns, _job("a2", oom, labels={"agenttasks.io/attempt": "2"}))
    assert _wait_finished(api, own_ns, "a1") == "Failed"
    assert _wait_finished(api, own_ns, "a2") == "Complete"
    [first] = _pods(api, own_ns, "a1")
    assert [(t.exit_code, t.reason) for t in _terminated(first)] == [(137, "OOMKilled")]
    [second] = _pods(api, own_ns, "a2")
    assert [(t.exit_code, t.reason) for t in _terminated(second)] == [(0, "Completed")]


def _pull_failed(pod: Any) -> bool:
    waiting = [s.state.waiting for s in pod.status.container_statuses or []
               if s.state and s.state.waiting]
    return (pod.status.phase == "Pending" and bool(waiting)
            and all(w.reason == "ErrImagePull" for w in waiting))


def test_image_pull_failure_keeps_the_pod_pending(api: Api, own_ns: str) -> None:
    image = "registry.invalid/agent:nope"
    api.batch.create_namespaced_job(own_ns, _job("pull", {f"{SIM}/image-pull": "fail"},
                                                 image=image))
    pod = wait_for(lambda: next((p for p in _pods(api, own_ns, "pull") if _pull_failed(p)),
                                None), 60, what="the pod to show ErrImagePull")
    [status] = pod.status.container_statuses
    assert status.state.waiting.message.startswith(f'Failed to pull image "{image}"')
    assert f'failed to pull and unpack image "{image}"' in status.state.waiting.message
    assert status.state.waiting.message.endswith("not found")
    assert pod.spec.node_name and pod.status.start_time
    scheduled = {c.type: c.status for c in pod.status.conditions}
    assert scheduled["PodScheduled"] == "True" and scheduled["Ready"] == "False"
    # Watch it for a while from the version we saw: whatever changes must still show it.
    seen: list[str] = []
    stream = watch.Watch().stream(
        api.core.list_namespaced_pod, own_ns, field_selector=f"metadata.name={pod.metadata.name}",
        resource_version=pod.metadata.resource_version, timeout_seconds=5)
    started = time.monotonic()
    for event in stream:
        seen.append(event["type"])
        assert _pull_failed(event["object"]), event["object"].status
    assert time.monotonic() - started >= 4, "the watch ended early"
    later = api.core.read_namespaced_pod(pod.metadata.name, own_ns)
    assert _pull_failed(later), later.status
    # No stage patches it again once it shows the reason.
    assert later.metadata.resource_version == pod.metadata.resource_version, seen


def test_eviction_is_ignored_by_a_disruption_rule(api: Api, own_ns: str) -> None:
    policy = {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}
    # The pod runs long enough to be evicted while running; its replacement then runs as long.
    api.batch.create_namespaced_job(own_ns, _job("evict", {f"{SIM}/duration": "10s"},
                                                 podFailurePolicy=policy))
    pod = wait_for(lambda: next((p for p in _pods(api, own_ns, "evict")
                                 if p.status.phase == "Running"), None), 30,
                   what="the pod to run")
    name = pod.metadata.name
    api.core.create_namespaced_pod_eviction(name, own_ns, client.V1Eviction(
        metadata=client.V1ObjectMeta(name=name, namespace=own_ns)))
    # The stop-on-delete stage makes it Failed; it must keep the API server's DisruptionTarget.
    last = None
    stream = watch.Watch().stream(api.core.list_namespaced_pod, own_ns,
                                  field_selector=f"metadata.name={name}",
                                  resource_version=pod.metadata.resource_version,
                                  timeout_seconds=60)
    for event in stream:
        last = event["object"]
        if event["type"] == "DELETED":
            break
    assert last is not None and last.status.phase == "Failed", last and last.status
    conditions = {c.type: c for c in last.status.conditions}
    assert conditions["DisruptionTarget"].status == "True"
    assert conditions["DisruptionTarget"].reason == "EvictionByEvictionAPI"
    assert _wait_finished(api, own_ns, "evict") == "Complete"
    job = api.batch.read_namespaced_job("evict", own_ns)
    # The Job controller does not count a failure that an Ignore rule matched.
    assert (job.status.succeeded, job.status.failed or 0) == (1, 0)
    replacement = [p for p in _pods(api, own_ns, "evict") if p.metadata.name != name]
    assert [p.status.phase for p in replacement] == ["Succeeded"]


def test_pod_security_admission_refuses_a_privileged_pod(api: Api, own_ns: str) -> None:
    api.core.patch_namespace(own_ns, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}})
    job = _job("priv")
    job["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    api.batch.create_namespaced_job(own_ns, job)
    api.wait_event(own_ns, "priv", "FailedCreate", 60)
    messages = [e.message for e in api.events(own_ns, "priv") if e.reason == "FailedCreate"]
    assert any('violates PodSecurity "restricted:latest"' in m and "privileged" in m
               for m in messages), messages
    assert _pods(api, own_ns, "priv") == []


def test_unsatisfiable_node_selector_leaves_the_pod_unscheduled(api: Api, own_ns: str) -> None:
    job = _job("nowhere")
    job["spec"]["template"]["spec"]["nodeSelector"] = {"agenttasks.io/no-such-node": "true"}
    api.batch.create_namespaced_job(own_ns, job)

    def unschedulable() -> Any:
        for pod in _pods(api, own_ns, "nowhere"):
            for c in pod.status.conditions or []:
                if (c.type, c.status, c.reason) == ("PodScheduled", "False", "Unschedulable"):
                    return pod
        return None

    pod = wait_for(unschedulable, 60, what="the scheduler to report Unschedulable")
    assert pod.status.phase == "Pending" and not pod.spec.node_name
