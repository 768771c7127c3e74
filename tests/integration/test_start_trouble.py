"""Attempts whose pods never start (spec.startTimeout), on the real control plane: the real
scheduler's and Pod Security Admission's own words reach the task."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from .harness import Api, pod_template, wait_for

NOWHERE = {"agenttasks.io/test-no-such-node": "true"}  # no node has this label
SCHEDULER_WORDS = "didn't match Pod's node affinity/selector"


def _template(duration: str = "2s", **pod_spec: Any) -> dict[str, Any]:
    template = pod_template(duration)
    template["spec"].update(pod_spec)
    return template


def _unschedulable(**spec: Any) -> dict[str, Any]:
    return {"template": _template(nodeSelector=NOWHERE), **spec}


def _jobs_stopped(api: Api, ns: str, task: str) -> bool:
    return all(j.metadata.deletion_timestamp for j in api.jobs(ns, task))


def test_an_unschedulable_pod_fails_its_attempt_at_the_start_timeout(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "nowhere"},
                         "spec": _unschedulable(startTimeout="4s")})
    status = api.wait_phase(ns, "nowhere", "Failed", 60, reason="Unschedulable")
    record = status["history"][-1]
    assert (record["attempt"], record["result"], record["reason"]) == \
        (1, "Failed", "Unschedulable")
    assert record["message"].startswith("no pod of attempt 1 ran within spec.startTimeout (4s)")
    assert SCHEDULER_WORDS in record["message"], "the scheduler's own words are quoted"
    assert SCHEDULER_WORDS in status["message"]
    assert status["attempts"] == 1
    wait_for(lambda: _jobs_stopped(api, ns, "nowhere"), 30, what="the stuck Job to be deleted")
    api.wait_event(ns, "nowhere", "Unschedulable")


def test_a_stuck_attempt_is_retried_and_each_attempt_has_its_record(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "twice"}, "spec": _unschedulable(
        startTimeout="3s", retries={"limit": 1, "delay": "1s"})})
    status = api.wait_phase(ns, "twice", "Failed", 90, reason="Unschedulable")
    assert status["attempts"] == 2
    assert [(r["attempt"], r["jobName"], r["reason"]) for r in status["history"]] == \
        [(1, "twice-1", "Unschedulable"), (2, "twice-2", "Unschedulable")]
    assert "JobDeleted" not in {r["reason"] for r in status["history"]}
    wait_for(lambda: _jobs_stopped(api, ns, "twice"), 30, what="both stuck Jobs deleted")
    api.wait_event(ns, "twice", "RetryScheduled")


@pytest.fixture
def node_label(api: Api) -> Iterator[tuple[str, str, str]]:
    """A label key of this test's own, and the simulated node: labelling the node with it
    makes a pod that selects it schedulable."""
    node = api.core.list_node(label_selector="type=kwok").items[0].metadata.name
    key = f"agenttasks.io/test-{uuid.uuid4().hex[:8]}"
    yield node, key, "true"
    api.core.patch_node(node, {"metadata": {"labels": {key: None}}})


def test_without_a_start_timeout_the_reason_shows_while_it_waits_then_running(
        api: Api, ns: str, node_label: tuple[str, str, str]) -> None:
    node, key, value = node_label
    api.create_task(ns, {"metadata": {"name": "waits"},
                         "spec": {"template": _template("1h", nodeSelector={key: value})}})
    status = api.wait_phase(ns, "waits", "InProgress", 60, reason="Unschedulable")
    assert status["message"].startswith("attempt 1 of 1 in Job waits-1 has not started: pod "
                                        "waits-1-")
    assert SCHEDULER_WORDS in status["message"]
    assert not status.get("history")
    api.wait_event(ns, "waits", "Unschedulable")
    # The node gets the label: the scheduler places the pod, it runs, the reason clears.
    api.core.patch_node(node, {"metadata": {"labels": {key: value}}})
    status = api.wait_phase(ns, "waits", "InProgress", 60, reason="Running")
    assert status["message"] == "attempt 1 of 1 is running in Job waits-1"
    assert status["attempts"] == 1


def test_a_pod_refused_by_pod_security_is_pod_create_refused(api: Api, ns: str) -> None:
    api.core.patch_namespace(ns, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}})
    template = pod_template("2s")
    template["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    api.create_task(ns, {"metadata": {"name": "privileged"},
                         "spec": {"startTimeout": "4s", "template": template}})
    status = api.wait_phase(ns, "privileged", "Failed", 60, reason="PodCreateRefused")
    record = status["history"][-1]
    assert record["reason"] == "PodCreateRefused"
    assert "the Job controller cannot create its pods" in record["message"]
    assert "PodSecurity" in record["message"] and "privileged" in record["message"]
    wait_for(lambda: _jobs_stopped(api, ns, "privileged"), 30, what="the Job to be deleted")


def test_a_refusal_shows_while_it_waits_without_a_start_timeout(api: Api, ns: str) -> None:
    api.core.patch_namespace(ns, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}})
    template = pod_template("2s")
    template["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    api.create_task(ns, {"metadata": {"name": "refused"}, "spec": {"template": template}})
    status = api.wait_phase(ns, "refused", "InProgress", 60, reason="PodCreateRefused")
    assert "PodSecurity" in status["message"]
    assert status["message"].startswith("attempt 1 of 1 in Job refused-1 has not started")


def _image_pull_fails() -> dict[str, Any]:
    template = _template(containers=[{"name": "agent", "image": "example.com/agent:nope"}])
    template["metadata"]["annotations"]["sim.agenttasks.io/image-pull"] = "fail"
    return template


def test_an_image_that_cannot_be_pulled_fails_its_attempt_as_image_pull_failed(
        api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "no-image"},
                         "spec": {"startTimeout": "4s", "template": _image_pull_fails()}})
    status = api.wait_phase(ns, "no-image", "Failed", 60, reason="ImagePullFailed")
    record = status["history"][-1]
    assert record["reason"] == "ImagePullFailed"
    assert "container agent of pod no-image-1-" in record["message"]
    assert 'ErrImagePull: Failed to pull image "example.com/agent:nope"' in record["message"]
    wait_for(lambda: _jobs_stopped(api, ns, "no-image"), 30, what="the Job to be deleted")


def test_an_image_pull_failure_shows_while_it_waits(api: Api, ns: str) -> None:
    api.create_task(ns, {"metadata": {"name": "pulling"},
                         "spec": {"template": _image_pull_fails()}})
    status = api.wait_phase(ns, "pulling", "InProgress", 60, reason="ImagePullFailed")
    assert status["message"].startswith("attempt 1 of 1 in Job pulling-1 has not started: "
                                        "container agent of pod pulling-1-")
    assert "not found" in status["message"]
