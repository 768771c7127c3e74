"""dependsOn on the real control plane: chains, fan-out and fan-in, late dependencies,
failures down the chain, cycles."""

from __future__ import annotations

import time

from .harness import REPO, Api, kubectl, pod_template


def _job_created(api: Api, ns: str, task: str) -> float:
    return float(api.jobs(ns, task)[0].metadata.creation_timestamp.timestamp())


def _completed(api: Api, ns: str, task: str) -> float:
    status = api.status(ns, task)
    from datetime import datetime

    return datetime.fromisoformat(status["completionTime"].replace("Z", "+00:00")).timestamp()


def test_pipeline_runs_in_dependency_order(api: Api, ns: str) -> None:
    kubectl(api.kubeconfig, "apply", "-n", ns, "-f", str(REPO / "examples" / "pipeline.yaml"))
    for name in ("extract", "transform-orders", "transform-customers", "load"):
        api.wait_phase(ns, name, "Completed", 90)
    extract_done = _completed(api, ns, "extract")
    for transform in ("transform-orders", "transform-customers"):
        assert _job_created(api, ns, transform) >= extract_done
    load_started = _job_created(api, ns, "load")
    assert load_started >= _completed(api, ns, "transform-orders")
    assert load_started >= _completed(api, ns, "transform-customers")


def test_missing_dependency_created_later(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "after"},
                         "spec": {"dependsOn": ["before"], "template": pod_template()}})
    status = api.wait_phase(ns, "after", "Pending", 30, reason="WaitingForDependencies")
    assert "before (not created yet)" in status["message"]
    time.sleep(1)
    assert api.jobs(ns, "after") == []
    api.create_task(ns, {"metadata": {"name": "before"}, "spec": {"template": pod_template()}})
    api.wait_phase(ns, "after", "Completed", 60)


def test_failed_dependency_fails_the_chain(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "c"},
                         "spec": {"dependsOn": ["b"], "template": pod_template()}})
    api.create_task(ns, {"metadata": {"name": "b"},
                         "spec": {"dependsOn": ["a"], "template": pod_template()}})
    api.create_task(ns, {"metadata": {"name": "a"},
                         "spec": {"template": pod_template("1s", "Failed")}})
    b = api.wait_phase(ns, "b", "Failed", 60, reason="DependencyFailed")
    assert "dependency a ended Failed" in b["message"]
    c = api.wait_phase(ns, "c", "Failed", 30, reason="DependencyFailed")
    assert "dependency b ended Failed" in c["message"]
    assert api.jobs(ns, "b") == [] and api.jobs(ns, "c") == []


def test_cycle_fails_every_task_on_it(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "x"},
                         "spec": {"dependsOn": ["y"], "template": pod_template()}})
    api.create_task(ns, {"metadata": {"name": "y"},
                         "spec": {"dependsOn": ["x"], "template": pod_template()}})
    x = api.wait_phase(ns, "x", "Failed", 30, reason="DependencyCycle")
    y = api.wait_phase(ns, "y", "Failed", 30, reason="DependencyCycle")
    assert "x → y → x" in x["message"] and "y → x → y" in y["message"]
    assert api.jobs(ns, "x") == [] and api.jobs(ns, "y") == []
