"""An AgentTask becomes one owned Job, and its phase follows the Job."""

from __future__ import annotations

from agenttasks.api.meta import LABEL_ATTEMPT, LABEL_TASK

from .harness import Api, pod_template, wait_for


def test_task_completes_through_its_job(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "ok"}, "spec": {"template": pod_template("2s")}})
    seen = wait_for(lambda: api.status(ns, "ok").get("phase") == "InProgress"
                    and api.status(ns, "ok"), 30, what="InProgress")
    assert seen["attempts"] == 1
    status = api.wait_phase(ns, "ok", "Completed", 60)
    assert status["reason"] == "Succeeded"
    assert status["progress"]["percent"] == 100
    jobs = api.jobs(ns, "ok")
    assert [j.metadata.name for j in jobs] == ["ok-1"]
    job = jobs[0]
    owner = job.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.controller) == ("AgentTask", "ok", True)
    assert job.metadata.labels[LABEL_TASK] == "ok"
    assert job.metadata.labels[LABEL_ATTEMPT] == "1"
    assert job.spec.backoff_limit == 0
    complete = {c["type"]: c["status"] for c in status["conditions"]}
    assert complete["Complete"] == "True" and complete["Ready"] == "True"


def test_task_fails_with_its_job(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "bad"},
                         "spec": {"template": pod_template("1s", "Failed")}})
    status = api.wait_phase(ns, "bad", "Failed", 60)
    assert status["reason"] == "JobFailed"
    assert status["attempts"] == 1
    failed = [c for c in status["conditions"] if c["type"] == "Failed"]
    assert failed and failed[0]["status"] == "True"


def test_deleting_the_task_removes_its_job(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "gone"},
                         "spec": {"template": pod_template("1h")}})
    wait_for(lambda: api.jobs(ns, "gone"), 30, what="the Job")
    api.delete_task(ns, "gone")
    wait_for(lambda: api.job_gone(ns, "gone-1"), 60,
             what="the garbage collector to delete the Job")
