"""spec.ttlAfterFinished and --default-ttl-after-finished on the real control plane: a
finished task is deleted that long after it ended, and the garbage collector takes its Jobs,
their pods and its payload with it; a task without a TTL stays; an operator that was down
when the time came deletes the task as it starts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from agenttasks.api.meta import API_VERSION, LABEL_TASK
from agenttasks.kube.client import ApiError, Kube

from .harness import Api, Operator, pod_template, wait_for


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _task(api: Api, ns: str, name: str, **spec: Any) -> dict[str, Any]:
    return api.create_task(ns, {"metadata": {"name": name},
                                "spec": {"template": pod_template("1s"), **spec}})


def _gone(api: Api, ns: str, name: str) -> bool:
    try:
        api.task(ns, name)
    except ApiException as exc:
        return exc.status == 404
    return False


def _payload(api: Api, ns: str, task: dict[str, Any]) -> str:
    """A ConfigMap the task owns, as a trigger's payload is."""
    meta = task["metadata"]
    name = f"{meta['name']}-payload"
    api.core.create_namespaced_config_map(ns, {"metadata": {
        "name": name, "ownerReferences": [{
            "apiVersion": API_VERSION, "kind": "AgentTask", "name": meta["name"],
            "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
        "data": {"payload.json": "{}"}})
    return name


def _config_map_gone(api: Api, ns: str, name: str) -> bool:
    try:
        api.core.read_namespaced_config_map(name, ns)
    except ApiException as exc:
        return exc.status == 404
    return False


def _everything_gone(api: Api, ns: str, name: str, jobs: list[str], payload: str) -> bool:
    pods = api.core.list_namespaced_pod(ns, label_selector=f"{LABEL_TASK}={name}").items
    return (_gone(api, ns, name) and all(api.job_gone(ns, job) for job in jobs)
            and not api.jobs(ns, name) and not pods and _config_map_gone(api, ns, payload))


def test_a_finished_task_is_deleted_with_its_jobs_after_its_ttl(api: Api, ns: str) -> None:
    short = _task(api, ns, "short", ttlAfterFinished="3s")
    payload = _payload(api, ns, short)
    _task(api, ns, "kept")
    status = api.wait_phase(ns, "short", "Completed", 60)
    jobs = [j.metadata.name for j in api.jobs(ns, "short")]
    assert jobs == ["short-1"]
    due = _ts(status["completionTime"]) + timedelta(seconds=3)
    # The garbage collector maps a kind it has not seen when it next reads discovery (every
    # 30s): the first deletion after the CRDs were installed may wait for that.
    wait_for(lambda: _everything_gone(api, ns, "short", jobs, payload), 90, interval=0.5,
             what="the task, its Job, its pods and its payload to be gone")
    # Not before its time: we see the deletion after it happened, never earlier.
    assert datetime.now(UTC) >= due
    api.wait_phase(ns, "kept", "Completed", 60)  # it ended with "short", and stays
    assert "ttlAfterFinished" not in api.task(ns, "kept")["spec"]
    assert [j.metadata.name for j in api.jobs(ns, "kept")] == ["kept-1"]


def test_the_default_ttl_applies_to_tasks_without_their_own(api: Api, own_ns: str) -> None:
    operator = Operator(api.operator_kubeconfig, [own_ns], "ttl-default",
                        extra=["--default-ttl-after-finished", "2s"]).start()
    try:
        plain = _task(api, own_ns, "plain")
        payload = _payload(api, own_ns, plain)
        _task(api, own_ns, "own", ttlAfterFinished="1h")  # its own TTL wins
        _task(api, own_ns, "failing", template=pod_template("1s", "Failed"))
        for name, phase in (("plain", "Completed"), ("own", "Completed"),
                            ("failing", "Failed")):
            api.wait_phase(own_ns, name, phase, 60)
        wait_for(lambda: _everything_gone(api, own_ns, "plain", ["plain-1"], payload), 90,
                 interval=0.5, what="the task without a TTL to go after the default 2s")
        wait_for(lambda: _gone(api, own_ns, "failing"), 60, interval=0.5,
                 what="the failed task to go too")
        assert api.status(own_ns, "own")["phase"] == "Completed"
        assert [j.metadata.name for j in api.jobs(own_ns, "own")] == ["own-1"]
    finally:
        operator.stop()
    # One delete per task, although the events of its foreground deletion (its own, its
    # Job's, its pods') bring passes while it is still there.
    deletes = [line for line in operator.log_path.read_text().splitlines()
               if "(ttlAfterFinished)" in line]
    for name in ("plain", "failing"):
        assert len([d for d in deletes if f"{own_ns}/{name} (" in d]) == 1, deletes


def test_an_operator_started_after_the_expiry_deletes_the_task_at_start(
        api: Api, own_ns: str) -> None:
    first = Operator(api.operator_kubeconfig, [own_ns], "ttl-before-restart").start()
    try:
        _task(api, own_ns, "late", ttlAfterFinished="4s")
        status = api.wait_phase(own_ns, "late", "Completed", 60)
    finally:
        first.kill()  # no chance to do anything more
    due = _ts(status["completionTime"]) + timedelta(seconds=4)
    wait_for(lambda: datetime.now(UTC) >= due + timedelta(seconds=1), 30,
             what="the expiry to pass while no operator runs")
    assert api.status(own_ns, "late")["phase"] == "Completed"  # nobody deleted it
    second = Operator(api.operator_kubeconfig, [own_ns], "ttl-after-restart").start()
    try:
        wait_for(lambda: _gone(api, own_ns, "late") and api.job_gone(own_ns, "late-1"), 60,
                 interval=0.5, what="the restarted operator to delete the expired task")
    finally:
        second.stop()


def test_a_delete_for_another_uid_is_refused(api: Api, ns: str) -> None:
    """The precondition the reconciler sends: a task created since under the same name is
    never deleted by the expiry of the one before."""
    task = _task(api, ns, "same-name", paused=True)

    async def delete(uid: str) -> None:
        kube = Kube(api.operator_kubeconfig)
        try:
            await kube.delete_object("agenttasks", ns, "same-name", uid=uid,
                                     propagation="Foreground")
        finally:
            await kube.close()

    with pytest.raises(ApiError) as refused:
        asyncio.run(delete("00000000-0000-0000-0000-000000000000"))
    assert refused.value.conflict, refused.value
    assert not _gone(api, ns, "same-name")
    asyncio.run(delete(task["metadata"]["uid"]))
    wait_for(lambda: _gone(api, ns, "same-name"), 30, what="the task of that uid to go")
    asyncio.run(delete(task["metadata"]["uid"]))  # gone already: success
