"""Room for Kueue, on the real control plane: a task naming a LocalQueue gets a Job created
suspended with Kueue's queue-name label, takes none of our slots, and says it waits for
Kueue; once the Job is unsuspended it runs and completes.

The first test acts as Kueue itself (it unsuspends the Job), so it needs no Kueue; the
second runs the real Kueue manager (tests/integration/kueue.py) when it is built, and is
skipped, saying why, when it is not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agenttasks.api.kueue import LABEL_QUEUE_NAME

from .harness import Api, Operator, pod_template, wait_for
from .kueue import KueueManager, kueue_or_skip


def _kueue_task(api: Api, ns: str, name: str, queue: str, duration: str = "1s",
                **spec: Any) -> None:
    api.create_task(ns, {"metadata": {"name": name}, "spec": {
        "kueue": {"queueName": queue}, "template": pod_template(duration), **spec}})


def _job(api: Api, ns: str, task: str) -> Any:
    return wait_for(lambda: (api.jobs(ns, task) or [None])[0], 30, interval=0.1,
                    what=f"the Job of {task}")


def test_a_kueue_task_waits_for_kueue_outside_our_limit(api: Api, own_ns: str) -> None:
    proc = Operator(api.operator_kubeconfig, [own_ns], "kueue-labels",
                    ["--max-running", "1"]).start()
    try:
        _kueue_task(api, own_ns, "k", "team-queue")
        job = _job(api, own_ns, "k")
        assert job.metadata.labels[LABEL_QUEUE_NAME] == "team-queue"
        assert job.spec.suspend is True
        assert LABEL_QUEUE_NAME not in (job.spec.template.metadata.labels or {})
        waiting = api.wait_phase(own_ns, "k", "Pending", 30, reason="WaitingForKueue")
        assert "team-queue" in waiting["message"] and job.metadata.name in waiting["message"]

        # It holds none of our one slot: a task of our own queue starts at once.
        api.create_task(own_ns, {"metadata": {"name": "ours"},
                                 "spec": {"template": pod_template("60s")}})
        api.wait_phase(own_ns, "ours", "InProgress", 30)
        assert api.status(own_ns, "k")["reason"] == "WaitingForKueue"

        # Acting as Kueue: admitted, the Job is unsuspended; the task runs and completes
        # while ours holds the only slot of our own limit.
        api.batch.patch_namespaced_job(job.metadata.name, own_ns, {"spec": {"suspend": False}})
        api.wait_phase(own_ns, "k", "Completed", 60)
        assert api.status(own_ns, "ours")["phase"] == "InProgress"
        assert len(api.jobs(own_ns, "k")) == 1
        # The operator never wrote the Job's spec.suspend back.
        assert api.jobs(own_ns, "k")[0].spec.suspend is False
    finally:
        proc.stop()


# --- with the real Kueue ------------------------------------------------------------------------

@pytest.fixture
def kueue(api: Api) -> Iterator[KueueManager]:
    manager = kueue_or_skip(api.kubeconfig)
    yield manager
    manager.stop()


def test_real_kueue_admits_within_its_quota_and_pause_goes_through_the_workload(
        api: Api, own_ns: str, kueue: KueueManager) -> None:
    # One CPU of quota, and each Job asks for one: Kueue admits one at a time.
    kueue.queue(api, own_ns, "lq", cpu="1")
    proc = Operator(api.operator_kubeconfig, [own_ns], "kueue-real",
                    ["--max-running", "1"]).start()
    try:
        cpu = {"resources": {"requests": {"cpu": "1"}}}
        for name in ("a", "b"):
            template = pod_template("4s")
            template["spec"]["containers"][0].update(cpu)
            api.create_task(own_ns, {"metadata": {"name": name}, "spec": {
                "kueue": {"queueName": "lq"}, "template": template}})
        # One is admitted and runs, the other waits for Kueue (not for our slot).
        wait_for(lambda: sorted(api.status(own_ns, n).get("reason") or "" for n in "ab")
                 == ["Running", "WaitingForKueue"], 60, interval=0.2,
                 what="Kueue to admit one task and hold the other")
        # Our own slot is free for our own queue meanwhile.
        api.create_task(own_ns, {"metadata": {"name": "ours"},
                                 "spec": {"template": pod_template("1s")}})
        api.wait_phase(own_ns, "ours", "Completed", 60)
        for name in ("a", "b"):
            api.wait_phase(own_ns, name, "Completed", 90)
            # Kueue admitted it, and sees it finished.
            uid = api.jobs(own_ns, name)[0].metadata.uid
            wait_for(lambda uid=uid: kueue.condition(api, own_ns, uid, "Finished") == "True",
                     30, what=f"Kueue's Workload of {name} to be Finished")

        # Pause while Kueue holds it: its Workload is deactivated, and stays so; the resume
        # activates it and Kueue admits it.
        blocker = pod_template("30s")
        blocker["spec"]["containers"][0].update(cpu)
        api.create_task(own_ns, {"metadata": {"name": "blocker"}, "spec": {
            "kueue": {"queueName": "lq"}, "template": blocker}})
        api.wait_phase(own_ns, "blocker", "InProgress", 60)
        waiter = pod_template("1s")
        waiter["spec"]["containers"][0].update(cpu)
        api.create_task(own_ns, {"metadata": {"name": "p"}, "spec": {
            "kueue": {"queueName": "lq"}, "template": waiter}})
        api.wait_phase(own_ns, "p", "Pending", 30, reason="WaitingForKueue")
        job = _job(api, own_ns, "p")
        wait_for(lambda: kueue.workload(api, own_ns, job.metadata.uid), 30,
                 what="Kueue's Workload of p's Job")
        api.patch_task(own_ns, "p", {"spec": {"paused": True}})
        api.wait_phase(own_ns, "p", "Paused", 30)
        assert kueue.workload(api, own_ns, job.metadata.uid)["spec"]["active"] is False
        # The blocker ends and frees the quota; a deactivated Workload is not admitted: a
        # younger task of the same queue, which would come after p, runs before it.
        api.wait_phase(own_ns, "blocker", "Completed", 90)
        api.create_task(own_ns, {"metadata": {"name": "younger"}, "spec": {
            "kueue": {"queueName": "lq"}, "template": waiter}})
        api.wait_phase(own_ns, "younger", "Completed", 90)
        assert api.jobs(own_ns, "p")[0].spec.suspend is True
        assert api.status(own_ns, "p")["phase"] == "Paused"
        api.patch_task(own_ns, "p", {"spec": {"paused": False}})
        api.wait_phase(own_ns, "p", "Completed", 90)
        assert kueue.workload(api, own_ns, job.metadata.uid)["spec"]["active"] is True
    finally:
        proc.stop()
