"""Priority queue and concurrency limits, with the operator's own flags, on the real control
plane. A sampler lists Jobs continuously and records how many run at once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agenttasks.api.meta import LABEL_TASK

from .harness import Api, Operator, pod_template, wait_for


def _running_jobs(job: Any) -> bool:
    done = any(c.type in ("Complete", "Failed") and c.status == "True"
               for c in (job.status.conditions or []))
    return not done and not job.spec.suspend and not job.metadata.deletion_timestamp


@contextmanager
def sample_running(api: Api, namespaces: list[str]) -> Iterator[list[Counter[str]]]:
    """Lists the Jobs of ``namespaces`` every 100 ms; yields the samples (per-namespace)."""
    samples: list[Counter[str]] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            jobs = api.batch.list_job_for_all_namespaces(label_selector=LABEL_TASK).items
            samples.append(Counter(j.metadata.namespace for j in jobs
                                   if j.metadata.namespace in namespaces and _running_jobs(j)))
            stop.wait(0.1)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def _create(api: Api, ns: str, name: str, priority: int, duration: str = "2s") -> None:
    api.create_task(ns, {"metadata": {"name": name},
                         "spec": {"priority": priority, "template": pod_template(duration)}})


def test_priority_order_under_max_running_2(api: Api, own_ns: str) -> None:
    priorities = {"p1": 1, "p9": 9, "p5": 5, "p3": 3, "p7": 7, "p0": 0}
    for name, priority in priorities.items():  # all exist before the operator starts
        _create(api, own_ns, name, priority)
    with sample_running(api, [own_ns]) as samples:
        proc = Operator(api.operator_kubeconfig, [own_ns], "priority",
                        ["--max-running", "2"]).start()
        try:
            status = wait_for(lambda: "2/2 running" in (api.status(own_ns, "p0").get("message")
                                                        or "") and api.status(own_ns, "p0"),
                              30, interval=0.1, what="p0 queued behind full capacity")
            assert (status["phase"], status["reason"]) == ("Pending", "Queued")
            for name in priorities:
                api.wait_phase(own_ns, name, "Completed", 90)
        finally:
            proc.stop()
    assert max(s[own_ns] for s in samples) == 2
    started = {n: api.jobs(own_ns, n)[0].metadata.creation_timestamp for n in priorities}
    for a in priorities:
        for b in priorities:
            if started[a] < started[b]:
                assert priorities[a] > priorities[b], f"{a} started before {b}"
    # Queued is a routine step: the status said it, no Event did (a write per task saved).
    assert "Queued" not in [e.reason for e in api.events(own_ns, "p0")]


def test_per_namespace_limit(api: Api, own_ns: str) -> None:
    other = api.create_namespace("own")
    try:
        for ns in (own_ns, other):
            for i in range(3):
                _create(api, ns, f"t{i}", 0)
        with sample_running(api, [own_ns, other]) as samples:
            proc = Operator(api.operator_kubeconfig, [own_ns, other], "per-ns",
                            ["--max-running", "0", "--max-running-per-namespace", "1"]).start()
            try:
                for ns in (own_ns, other):
                    for i in range(3):
                        api.wait_phase(ns, f"t{i}", "Completed", 90)
            finally:
                proc.stop()
        assert max(s[own_ns] for s in samples) == 1
        assert max(s[other] for s in samples) == 1
        assert any(s[own_ns] == 1 and s[other] == 1 for s in samples), "namespaces ran together"
    finally:
        api.delete_namespace(other)


def test_limits_hold_across_a_kill_and_restart(api: Api, own_ns: str) -> None:
    names = [f"k{i}" for i in range(8)]
    for i, name in enumerate(names):
        _create(api, own_ns, name, i % 3, "3s")
    with sample_running(api, [own_ns]) as samples:
        first = Operator(api.operator_kubeconfig, [own_ns], "limits-1",
                         ["--max-running", "2"]).start()
        wait_for(lambda: sum(1 for n in names if api.jobs(own_ns, n)) >= 3, 60,
                 what="the run to be under way")
        first.kill()
        second = Operator(api.operator_kubeconfig, [own_ns], "limits-2",
                          ["--max-running", "2"]).start()
        try:
            for name in names:
                api.wait_phase(own_ns, name, "Completed", 120)
        finally:
            second.stop()
    assert max(s[own_ns] for s in samples) == 2
    for name in names:
        assert len(api.jobs(own_ns, name)) == 1, f"{name} got a second Job"


def test_starter_plan_refusals(api: Api, own_ns: str) -> None:
    proc = Operator(api.operator_kubeconfig, [own_ns], "starter", ["--plan", "starter"]).start()
    try:
        api.create_task(own_ns, {"metadata": {"name": "plain"},
                                 "spec": {"template": pod_template()}})
        api.create_task(own_ns, {"metadata": {"name": "deps"},
                                 "spec": {"dependsOn": ["plain"], "template": pod_template()}})
        api.create_task(own_ns, {"metadata": {"name": "dl"}, "spec": {
            "deadline": "2099-01-01T00:00:00Z", "template": pod_template()}})
        deps = api.wait_phase(own_ns, "deps", "Failed", 30, reason="PlanRestricted")
        assert "growth plan" in deps["message"] and "spec.dependsOn" in deps["message"]
        dl = api.wait_phase(own_ns, "dl", "Failed", 30, reason="PlanRestricted")
        assert "spec.deadline" in dl["message"]
        api.wait_phase(own_ns, "plain", "Completed", 60)
        assert api.jobs(own_ns, "deps") == [] and api.jobs(own_ns, "dl") == []
    finally:
        proc.stop()




def test_a_task_admitted_at_once_never_shows_a_queued_status(api: Api, ns: str) -> None:
    """Every version of every task, as the watch delivers them: with room under the limits,
    the first status written is InProgress; no write ever said Queued."""
    from kubernetes import watch

    from agenttasks.api.meta import GROUP, VERSION

    seen: list[tuple[str, str | None, str | None]] = []
    listed = api.custom.list_namespaced_custom_object(GROUP, VERSION, ns, "agenttasks")
    stream = watch.Watch()

    done = threading.Event()

    def record() -> None:
        try:
            for event in stream.stream(api.custom.list_namespaced_custom_object, GROUP,
                                       VERSION, ns, "agenttasks", timeout_seconds=120,
                                       resource_version=listed["metadata"]["resourceVersion"]):
                body = event["object"]
                status = body.get("status") or {}
                seen.append((body["metadata"]["name"], status.get("phase"),
                             status.get("reason")))
        except Exception:
            if not done.is_set():
                raise  # a watch that broke before the test was done is a finding

    watcher = threading.Thread(target=record, daemon=True)
    watcher.start()
    names = [f"at-once-{i}" for i in range(5)]  # the shared operator runs 10 at once
    for name in names:
        api.create_task(ns, {"metadata": {"name": name},
                             "spec": {"template": pod_template("1s")}})
    for name in names:
        api.wait_phase(ns, name, "Completed", 60)
    wait_for(lambda: all((n, "Completed", "Succeeded") in seen for n in names) or None, 10,
             what="the watch to deliver every completion")
    done.set()
    stream.stop()
    for name in names:
        written = [(phase, reason) for n, phase, reason in seen if n == name and phase]
        assert written[0] == ("InProgress", "Running"), (name, written)
        assert ("Pending", "Queued") not in written, (name, written)
