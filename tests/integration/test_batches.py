"""Issue 19 on the real control plane: batches that survive bad items, failure rules,
disruptions and OOM kills (the simulated pods' annotations are in the README)."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from .harness import Api, kubectl, wait_for

SIM = "sim.agenttasks.io"


def template(annotations: dict[str, str], **container: Any) -> dict[str, Any]:
    return {"metadata": {"annotations": {f"{SIM}/{k}": v for k, v in annotations.items()}},
            "spec": {"containers": [{"name": "agent", "image": "busybox", **container}]}}


def test_a_batch_survives_bad_items_and_its_retry_runs_only_what_is_left(
        api: Api, ns: str) -> None:
    # Items 3 and 7 fail on their first run, item 12 always: 17 of 20 succeed in attempt 1,
    # the retry runs the three left, and 19 of 20 are enough.
    api.create_task(ns, {"metadata": {"name": "docs"}, "spec": {
        "completions": 20, "parallelism": 10,
        "batch": {"minSucceededItems": 19},
        "retries": {"limit": 1, "delay": "1s"},
        "template": template({"duration": "1s", "fail-items-once": "3,7",
                              "fail-items": "12"})}})
    status = api.wait_phase(ns, "docs", "Completed", 120)
    assert status["reason"] == "PartiallySucceeded", status
    items = status["progress"]["items"]
    assert (items["succeeded"], items["failed"], items["remaining"]) == (19, 1, 0), items
    # Item 12 failed in attempt 1; in attempt 2 it failed again or was stopped by the success
    # policy, which of the two the Job controller saw first: failed either way.
    assert (items["failedItems"], items["leftItems"], items["done"]) == ("12", "12", "19/20")
    first, second = status["history"]
    assert first["items"] == {"ran": "0-19", "succeeded": "0-2,4-6,8-11,13-19",
                              "failed": "3,7,12"}, first
    assert second["items"]["ran"] == "3,7,12", second
    assert set(second["items"]["succeeded"].split(",")) == {"3", "7"}, second
    jobs = {j.metadata.name: j for j in api.jobs(ns, "docs")}
    retry = jobs["docs-2"].spec
    assert retry.completions == 3 and retry.success_policy.rules[0].succeeded_count == 2
    env = {e.name: e.value for e in retry.template.spec.containers[0].env}
    assert env["AGENTTASK_ITEMS"] == "3,7,12"
    printed = kubectl(api.kubeconfig, "get", "agenttask", "docs", "-n", ns,
                      "-o", "custom-columns=DONE:.status.progress.items.done", "--no-headers")
    assert printed.stdout.strip() == "19/20"
    table = kubectl(api.kubeconfig, "get", "agenttask", "docs", "-n", ns)
    assert "DONE" in table.stdout and "19/20" in table.stdout


def test_a_non_retryable_exit_code_ends_the_task_at_once(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "bug"}, "spec": {
        "retries": {"limit": 3, "delay": "1s",
                    "rules": [{"exitCodes": [2], "action": "FailTask"},
                              {"exitCodes": [75], "action": "Retry"}]},
        "template": template({"duration": "1s", "exit-code": "2"})}})
    status = api.wait_phase(ns, "bug", "Failed", 60, reason="NonRetryable")
    assert status["attempts"] == 1
    record = status["history"][0]
    assert (record["reason"], record["exitCode"], record["rule"]) == (
        "NonRetryable", 2, "retries.rules[0]"), record
    assert "exit code 2" in status["message"] and "retries.rules[0]" in status["message"]
    job = api.jobs(ns, "bug")[0]
    assert job.status.conditions[-1].reason == "PodFailurePolicy"  # the Job acted first
    api.wait_event(ns, "bug", "NonRetryable")


def test_an_eviction_does_not_use_up_a_retry(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "evicted"}, "spec": {
        "retries": {"limit": 0}, "template": template({"duration": "8s"})}})

    def running_pod() -> Any:
        pods = api.core.list_namespaced_pod(ns, label_selector="job-name=evicted-1").items
        return next((p for p in pods if p.status.phase == "Running"
                     and not p.metadata.deletion_timestamp), None)

    pod = wait_for(running_pod, 60, what="the attempt's pod to run")
    api.core.create_namespaced_pod_eviction(pod.metadata.name, ns, client.V1Eviction(
        metadata=client.V1ObjectMeta(name=pod.metadata.name, namespace=ns)))
    status = api.wait_phase(ns, "evicted", "Completed", 90)
    assert status["attempts"] == 1 and status["history"][0]["result"] == "Succeeded"
    pods = api.core.list_namespaced_pod(ns, label_selector="job-name=evicted-1").items
    assert pods == [] or all(p.metadata.name != pod.metadata.name or p.status.phase == "Failed"
                             for p in pods)
    assert api.jobs(ns, "evicted")[0].status.succeeded == 1


def test_an_oom_killed_attempt_is_retried_with_more_memory(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "hungry"}, "spec": {
        "retries": {"limit": 2, "delay": "1s", "rules": [
            {"onOOMKilled": True, "action": "Retry",
             "raiseMemory": {"factor": 2, "max": "1Gi"}}]},
        "template": template({"duration": "1s", "oom-first-attempt": "true"}, resources={
            "requests": {"memory": "32Mi"}, "limits": {"memory": "64Mi"}})}})
    status = api.wait_phase(ns, "hungry", "Completed", 90)
    first, second = status["history"]
    assert (first["reason"], first["exitCode"], first["rule"]) == (
        "OOMKilled", 137, "retries.rules[0]"), first
    assert first["memory"] == {"agent": "64Mi"} and second["memory"] == {"agent": "128Mi"}
    resources = {j.metadata.name: j.spec.template.spec.containers[0].resources
                 for j in api.jobs(ns, "hungry")}
    assert resources["hungry-2"].limits == {"memory": "128Mi"}
    assert resources["hungry-2"].requests == {"memory": "64Mi"}


def test_rules_that_cannot_be_combined_are_refused_at_apply(api: Api, ns: str) -> None:
    import yaml

    def apply(spec: dict[str, Any]) -> str:
        body = {"apiVersion": "agenttasks.io/v1alpha1", "kind": "AgentTask",
                "metadata": {"name": "bad"}, "spec": {"template": template({}), **spec}}
        result = kubectl(api.kubeconfig, "apply", "-n", ns, "-f", "-",
                         stdin=yaml.safe_dump(body), check=False)
        assert result.returncode != 0, f"{spec} was accepted"
        return result.stderr

    assert "batch tasks only" in apply({"batch": {"itemRetries": 1}})
    assert "cannot exceed completions" in apply(
        {"completions": 5, "batch": {"minSucceededItems": 6}})
    assert "exactly one of exitCodes, onDisruption and onOOMKilled" in apply(
        {"retries": {"rules": [{"exitCodes": [2], "onDisruption": True, "action": "Retry"}]}})
    assert "raiseMemory needs onOOMKilled and action Retry" in apply(
        {"retries": {"rules": [{"exitCodes": [2], "action": "Retry",
                                "raiseMemory": {"max": "1Gi"}}]}})
    assert "Unsupported value" in apply({"retries": {"rules": [{"exitCodes": [2],
                                                               "action": "Skip"}]}})
