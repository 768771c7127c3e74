"""The complete AgentTask on the real control plane."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from .harness import Api, Operator, kubectl, pod_template, wait_for


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_retries_backoff_and_history(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "r"}, "spec": {
        "retries": {"limit": 2, "delay": "2s", "backoffFactor": 2},
        "template": pod_template("1s", "Failed")}})
    retry_times: dict[int, str] = {}

    def finished() -> dict[str, object] | None:
        status = api.status(ns, "r")
        if status.get("reason") == "RetryScheduled":
            retry_times[status["attempts"]] = status["nextRetryTime"]
        return status if status.get("reason") == "JobFailed" else None

    status = wait_for(finished, 90, interval=0.2, what="three failed attempts")
    assert status["attempts"] == 3
    history = status["history"]
    assert [h["attempt"] for h in history] == [1, 2, 3]
    assert all(h["result"] == "Failed" for h in history)
    assert [h["jobName"] for h in history] == ["r-1", "r-2", "r-3"]
    assert sorted(retry_times) == [1, 2], "each retry was visible as RetryScheduled"
    for attempt, delay in ((1, 2), (2, 4)):
        done = _ts(history[attempt - 1]["completionTime"])
        assert _ts(retry_times[attempt]) == done + timedelta(seconds=delay)
        started = _ts(history[attempt]["startTime"])
        assert started >= _ts(retry_times[attempt])
    assert [j.metadata.name for j in api.jobs(ns, "r")] == ["r-1", "r-2", "r-3"]
    api.wait_event(ns, "r", "JobFailed")
    reasons = [e.reason for e in api.events(ns, "r")]
    assert reasons.count("RetryScheduled") == 2


def test_timeout_fails_attempt_as_timed_out(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "slow"}, "spec": {
        "timeout": 2, "template": pod_template("1h")}})
    status = api.wait_phase(ns, "slow", "Failed", 60, reason="TimedOut")
    assert status["history"][0]["reason"] == "TimedOut"
    assert api.jobs(ns, "slow")[0].spec.active_deadline_seconds == 2


def test_deadline_while_running_stops_the_job(api: Api, ns: str) -> None:
    deadline = (datetime.now(UTC) + timedelta(seconds=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    api.create_task(ns, {"metadata": {"name": "late"}, "spec": {
        "deadline": deadline, "retries": {"limit": 3}, "template": pod_template("1h")}})
    api.wait_phase(ns, "late", "InProgress", 30)
    status = api.wait_phase(ns, "late", "Failed", 30, reason="DeadlineExceeded")
    assert _ts(status["completionTime"]) >= _ts(deadline)
    assert status["attempts"] == 1
    wait_for(lambda: all(j.metadata.deletion_timestamp for j in api.jobs(ns, "late")) or
             not api.jobs(ns, "late"), 30, what="the running Job to be stopped")


def test_deadline_already_past_creates_no_job(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "past"}, "spec": {
        "deadline": "2020-01-01T00:00:00Z", "template": pod_template()}})
    status = api.wait_phase(ns, "past", "Failed", 30, reason="DeadlineExceeded")
    assert status["attempts"] == 0
    time.sleep(1)
    assert api.jobs(ns, "past") == []


def test_pause_and_resume_a_running_task(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "p"}, "spec": {"template": pod_template("5s")}})
    api.wait_phase(ns, "p", "InProgress", 30)
    api.patch_task(ns, "p", {"spec": {"paused": True}})
    api.wait_phase(ns, "p", "Paused", 30)
    wait_for(lambda: api.jobs(ns, "p")[0].spec.suspend is True, 30, what="Job suspended")
    wait_for(lambda: (api.jobs(ns, "p")[0].status.active or 0) == 0, 30,
             what="the suspended Job's pod to stop")
    time.sleep(6)  # longer than the pod's run: a suspended Job must not finish
    assert api.status(ns, "p")["phase"] == "Paused"
    api.patch_task(ns, "p", {"spec": {"paused": False}})
    api.wait_phase(ns, "p", "InProgress", 30)
    assert api.jobs(ns, "p")[0].spec.suspend is False
    status = api.wait_phase(ns, "p", "Completed", 60)
    assert status["attempts"] == 1


def test_cancel_a_pending_task(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "c0"}, "spec": {
        "cancelled": True, "template": pod_template()}})
    status = api.wait_phase(ns, "c0", "Cancelled", 30)
    assert status["attempts"] == 0
    assert {c["type"]: c["reason"] for c in status["conditions"]}["Failed"] == "Cancelled"
    assert api.jobs(ns, "c0") == []


def test_cancel_a_running_task_deletes_its_job(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "c1"}, "spec": {"template": pod_template("1h")}})
    api.wait_phase(ns, "c1", "InProgress", 30)
    api.patch_task(ns, "c1", {"spec": {"cancelled": True}})
    api.wait_phase(ns, "c1", "Cancelled", 30)
    wait_for(lambda: api.job_gone(ns, "c1-1"), 60, what="the Job to be deleted")


def test_progress_of_a_batch(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "b"}, "spec": {
        "completions": 4, "parallelism": 1, "template": pod_template("1s")}})
    seen: set[int] = set()

    def done() -> bool:
        progress = api.status(ns, "b").get("progress") or {}
        if progress:
            seen.add(progress["percent"])
            assert progress["total"] == 4
        return progress.get("percent") == 100

    wait_for(done, 90, interval=0.2, what="all 4 completions")
    assert seen & {25, 50, 75}, f"intermediate progress was visible, saw {sorted(seen)}"
    job = api.jobs(ns, "b")[0]
    assert job.spec.completion_mode == "Indexed" and job.spec.completions == 4


def test_template_refused_as_job_is_invalid_spec(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "broken"},
                         "spec": {"template": {"spec": {"containers": []}}}})
    api.create_task(ns, {"metadata": {"name": "fine"}, "spec": {"template": pod_template()}})
    status = api.wait_phase(ns, "broken", "Failed", 30, reason="InvalidSpec")
    assert "containers" in status["message"]
    assert status["attempts"] == 0
    api.wait_phase(ns, "fine", "Completed", 60)
    api.wait_event(ns, "broken", "InvalidSpec")


def test_schema_rejects_bad_input_at_apply(api: Api, ns: str) -> None:
    cases = {
        "retries": {"limit": -1},
        "retries ": {"backoffFactor": 0.5},
        "dependsOn": ["other-namespace/task"],
        "timeout": "ten minutes",
    }
    for field, value in cases.items():
        manifest = {"apiVersion": "agenttasks.io/v1alpha1", "kind": "AgentTask",
                    "metadata": {"name": "x", "namespace": ns},
                    "spec": {field.strip(): value, "template": pod_template()}}
        result = kubectl(api.kubeconfig, "apply", "-f", "-", stdin=json.dumps(manifest),
                         check=False)
        assert result.returncode != 0, f"{field}={value} was accepted"
        assert f"spec.{field.strip()}" in result.stderr, result.stderr


def test_kubectl_wait_and_reapply_does_not_rerun(api: Api, ns: str) -> None:
    manifest = json.dumps({"apiVersion": "agenttasks.io/v1alpha1", "kind": "AgentTask",
                           "metadata": {"name": "once", "namespace": ns},
                           "spec": {"template": pod_template("1s")}})
    kubectl(api.kubeconfig, "apply", "-f", "-", stdin=manifest)
    kubectl(api.kubeconfig, "wait", "--for=condition=Complete", "agenttask/once", "-n", ns,
            "--timeout=60s")
    kubectl(api.kubeconfig, "apply", "-f", "-", stdin=manifest)
    time.sleep(3)
    status = api.status(ns, "once")
    assert (status["phase"], status["attempts"]) == ("Completed", 1)
    assert len(api.jobs(ns, "once")) == 1
    task = api.task(ns, "once")
    assert status["observedGeneration"] == task["metadata"]["generation"]
    annotations = task["metadata"].get("annotations") or {}
    assert not [a for a in annotations if "kopf" in a], "no kopf bookkeeping in annotations"
    assert not task["metadata"].get("finalizers")


def test_only_the_last_five_attempts_keep_jobs(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "many"}, "spec": {
        "retries": {"limit": 6, "delay": 0}, "template": pod_template("1s", "Failed")}})
    status = api.wait_phase(ns, "many", "Failed", 120, reason="JobFailed")
    assert status["attempts"] == 7 and len(status["history"]) == 7
    wait_for(lambda: [j.metadata.name for j in api.jobs(ns, "many")
                      if not j.metadata.deletion_timestamp] ==
             [f"many-{n}" for n in range(3, 8)], 30, what="jobs of attempts 3-7 only")


def test_kill_between_job_creation_and_status_write(api: Api, own_ns: str) -> None:
    crashing = Operator(api.operator_kubeconfig, [own_ns], "crash",
                        env={"AGENTTASKS_FAILPOINTS": "after-job-create"}).start()
    try:
        api.create_task(own_ns, {"metadata": {"name": "k"},
                                 "spec": {"template": pod_template("2s")}})
        wait_for(crashing.exited, 30, what="the operator to die at the failpoint")
    finally:
        crashing.kill()
    assert [j.metadata.name for j in api.jobs(own_ns, "k")] == ["k-1"]
    assert api.status(own_ns, "k").get("attempts", 0) == 0, "status was not written"
    restarted = Operator(api.operator_kubeconfig, [own_ns], "crash-restart").start()
    try:
        status = api.wait_phase(own_ns, "k", "Completed", 60)
    finally:
        restarted.stop()
    assert status["attempts"] == 1
    assert [h["jobName"] for h in status["history"]] == ["k-1"]
    assert [j.metadata.name for j in api.jobs(own_ns, "k")] == ["k-1"]
