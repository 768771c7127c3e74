"""The Job of a batch attempt and of failure rules: built from the plan, read back."""

from __future__ import annotations

from typing import Any

from agenttasks.api.task import AgentTaskSpec
from agenttasks.core.batch import ItemPlan
from agenttasks.manifests.jobs import ITEMS_ENV, build_job, failed_pod, job_facts
from tests.unit.test_lifecycle import task


def spec(**kw: Any) -> AgentTaskSpec:
    return AgentTaskSpec.model_validate({"template": {"spec": {"containers": [
        {"name": "a", "image": "x", "resources": {"limits": {"memory": "64Mi"}}}]}}, **kw})


def test_a_retry_attempt_is_an_indexed_job_over_the_items_left() -> None:
    s = spec(completions=20, parallelism=5)
    plan = ItemPlan((3, 7, 12), succeeded_needed=2, max_failed=1, item_retries=2)
    body = build_job(task(), s, 2, "t-2", items=plan)
    job = body["spec"]
    assert (job["completions"], job["parallelism"], job["completionMode"]) == (3, 3, "Indexed")
    assert job["backoffLimitPerIndex"] == 2 and "backoffLimit" not in job
    assert job["maxFailedIndexes"] == 1
    assert job["successPolicy"] == {"rules": [{"succeededCount": 2}]}
    env = job["template"]["spec"]["containers"][0]["env"]
    assert {"name": ITEMS_ENV, "value": "3,7,12"} in env
    body["metadata"]["creationTimestamp"] = "2026-12-01T00:00:00Z"
    body["status"] = {"completedIndexes": "0,1", "failedIndexes": "2"}
    facts = job_facts(body)
    assert facts is not None and (facts.items, facts.completions) == ("3,7,12", 3)
    assert (facts.completed_indexes, facts.failed_indexes) == ("0,1", "2")
    assert facts.memory == (("a", "64Mi"),)


def test_failure_rules_become_the_jobs_pod_failure_policy() -> None:
    s = spec(retries={"rules": [
        {"exitCodes": [3, 2], "container": "a", "action": "FailTask"},
        {"exitCodes": [75], "action": "Ignore"},
        {"onOOMKilled": True, "action": "Retry", "raiseMemory": {"max": "1Gi"}}]})
    policy = build_job(task(), s, 1, "t-1")["spec"]["podFailurePolicy"]
    assert policy["rules"] == [
        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [2, 3],
                                              "containerName": "a"}},
        {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [75]}},
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget",
                                                  "status": "True"}]}]
    counted = spec(retries={"rules": [{"onDisruption": True, "action": "Retry"}]})
    assert build_job(task(), counted, 1, "t-1")["spec"]["podFailurePolicy"]["rules"] == [
        {"action": "Count", "onPodConditions": [{"type": "DisruptionTarget",
                                                 "status": "True"}]}]


def test_no_pod_failure_policy_when_pods_restart_in_place() -> None:
    s = AgentTaskSpec.model_validate({"template": {"spec": {"restartPolicy": "OnFailure",
                                                            "containers": []}}})
    assert "podFailurePolicy" not in build_job(task(), s, 1, "t-1")["spec"]


def test_raised_memory_goes_into_the_attempts_containers() -> None:
    body = build_job(task(), spec(), 2, "t-2",
                     memory={"a": {"limits": "128Mi", "requests": "64Mi"}})
    resources = body["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"limits": {"memory": "128Mi"}, "requests": {"memory": "64Mi"}}


def test_a_failed_pod_says_how_its_containers_ended() -> None:
    pod = {"status": {"phase": "Failed", "conditions": [
        {"type": "DisruptionTarget", "status": "True"}], "containerStatuses": [
        {"name": "a", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}}
    ended = failed_pod(pod)
    assert ended is not None and ended.disrupted
    assert [(e.container, e.exit_code, e.reason) for e in ended.ends] == [
        ("a", 137, "OOMKilled")]
    assert failed_pod({"status": {"phase": "Succeeded"}}) is None
