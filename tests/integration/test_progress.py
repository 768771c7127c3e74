"""Progress reported from inside an attempt, with its per-attempt token, and the attempt's
termination message as status.result."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

from .harness import Api, Operator, pod_template, wait_for


def post(port: int, ns: str, task: str, token: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/progress/{ns}/{task}", data=json.dumps(body).encode(),
        method="POST", headers={"Authorization": f"Bearer {token}",
                                "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def pod_token(api: Api, ns: str, task: str) -> tuple[int, str]:
    """The token as the attempt's pod gets it: from the Secret its env refers to."""
    secret = api.core.read_namespaced_secret(f"{task}-progress", ns)
    attempt = int(secret.metadata.annotations["agenttasks.io/attempt"])
    return attempt, base64.b64decode(secret.data["token"]).decode()


def test_agent_progress_reaches_status(api: Api, ns: str, operator: Operator) -> None:
    api.create_task(ns, {"metadata": {"name": "reporter"},
                         "spec": {"template": pod_template("1h")}})
    api.wait_phase(ns, "reporter", "InProgress", 30)
    [job] = api.jobs(ns, "reporter")
    env = {e.name: e for e in job.spec.template.spec.containers[0].env}
    assert env["AGENTTASK_PROGRESS_URL"].value.endswith(f"/progress/{ns}/reporter")
    assert env["AGENTTASK_PROGRESS_TOKEN"].value_from.secret_key_ref.name == "reporter-progress"
    attempt, token = pod_token(api, ns, "reporter")
    assert attempt == 1
    assert post(operator.port, ns, "reporter", "not-the-token", {"completed": 1}) == 401
    for done in range(1, 4):  # a burst: coalesced, the newest wins
        assert post(operator.port, ns, "reporter", token,
                    {"completed": done, "total": 10, "message": f"step {done}"}) == 202
    progress = wait_for(lambda: (api.status(ns, "reporter").get("progress") or {}).get(
        "message") == "step 3" and api.status(ns, "reporter")["progress"], 15,
        what="progress in status")
    assert progress == {"completed": 3, "total": 10, "percent": 30, "message": "step 3",
                        "attempt": 1}
    # The dashboard shows it too (read with a token that may list the tasks: the admin's).
    header = api.client.configuration.get_api_key_with_prefix("authorization") or \
        api.client.configuration.get_api_key_with_prefix("BearerToken")
    request = urllib.request.Request(
        f"http://127.0.0.1:{operator.port}/api/dashboard/views/tasks?namespace={ns}",
        headers={"Authorization": str(header)})
    with urllib.request.urlopen(request, timeout=10) as response:
        page = json.loads(response.read())["html"]
    assert "step 3" in page and 'value="30"' in page
    api.patch_task(ns, "reporter", {"spec": {"cancelled": True}})


def test_a_token_of_another_attempt_is_refused(api: Api, ns: str, operator: Operator) -> None:
    api.create_task(ns, {"metadata": {"name": "retried"}, "spec": {
        "retries": {"limit": 1, "delay": 1}, "template": pod_template("4s", "Failed")}})
    first = wait_for(lambda: api.status(ns, "retried").get("attempts") == 1 and
                     pod_token(api, ns, "retried"), 30, what="attempt 1's token")
    second = wait_for(lambda: api.status(ns, "retried").get("attempts") == 2 and
                      pod_token(api, ns, "retried"), 60, what="attempt 2's token")
    assert (first[0], second[0]) == (1, 2) and first[1] != second[1]
    assert post(operator.port, ns, "retried", first[1], {"completed": 1, "total": 2}) == 401
    assert post(operator.port, ns, "retried", second[1], {"completed": 1, "total": 2}) == 202


def test_termination_message_becomes_the_result(api: Api, ns: str) -> None:
    template = pod_template("1s")
    template["metadata"]["annotations"]["sim.agenttasks.io/message"] = \
        "report: s3://reports/2026-11-25/sales-us.pdf"
    api.create_task(ns, {"metadata": {"name": "reporting"}, "spec": {"template": template}})
    status = api.wait_phase(ns, "reporting", "Completed", 60)
    result = status.get("result") or wait_for(
        lambda: api.status(ns, "reporting").get("result"), 10, what="result")
    assert result == {"attempt": 1, "message": "report: s3://reports/2026-11-25/sales-us.pdf"}


def planted_secret(api: Api, ns: str, task: str, token: str,
                   owner: dict[str, Any] | None = None) -> Any:
    """A ``<task>-progress`` Secret someone else created first, as the operator's would look."""
    return api.core.create_namespaced_secret(ns, {"metadata": {
        "name": f"{task}-progress", "annotations": {"agenttasks.io/attempt": "1"},
        "ownerReferences": [owner] if owner else []},
        "stringData": {"token": token}})


def test_a_foreign_progress_secret_is_neither_changed_nor_used(
        api: Api, ns: str, operator: Operator) -> None:
    planted = planted_secret(api, ns, "squatted", "the-planter-knows-this")
    api.create_task(ns, {"metadata": {"name": "squatted"},
                         "spec": {"template": pod_template("1h")}})
    api.wait_phase(ns, "squatted", "InProgress", 30)
    api.wait_event(ns, "squatted", "ProgressUnavailable")
    [job] = api.jobs(ns, "squatted")
    names = {e.name for c in job.spec.template.spec.containers for e in c.env or []}
    assert not names & {"AGENTTASK_PROGRESS_URL", "AGENTTASK_PROGRESS_TOKEN"}
    after = api.core.read_namespaced_secret("squatted-progress", ns)
    assert after.metadata.resource_version == planted.metadata.resource_version
    assert after.data == planted.data and after.metadata.annotations == \
        planted.metadata.annotations and not after.metadata.owner_references
    assert post(operator.port, ns, "squatted", "the-planter-knows-this",
                {"completed": 1}) == 401
    api.patch_task(ns, "squatted", {"spec": {"cancelled": True}})


def test_reports_for_a_finished_task_are_refused(api: Api, ns: str, operator: Operator) -> None:
    api.create_task(ns, {"metadata": {"name": "finishing"},
                         "spec": {"template": pod_template("1h")}})
    api.wait_phase(ns, "finishing", "InProgress", 30)
    _attempt, token = pod_token(api, ns, "finishing")
    assert post(operator.port, ns, "finishing", token, {"completed": 1, "total": 2}) == 202
    api.patch_task(ns, "finishing", {"spec": {"cancelled": True}})
    api.wait_phase(ns, "finishing", "Cancelled", 30)
    # The Secret, still the task's, still holds the token: it is not trusted any more.
    assert pod_token(api, ns, "finishing")[1] == token
    assert post(operator.port, ns, "finishing", token, {"completed": 2, "total": 2}) == 401


def test_the_result_comes_only_from_the_jobs_own_pod(api: Api, ns: str) -> None:
    template = pod_template("4s")
    template["metadata"]["annotations"]["sim.agenttasks.io/message"] = "the real report"
    api.create_task(ns, {"metadata": {"name": "genuine"}, "spec": {"template": template}})
    # A pod of someone else's with the Job's name label and a message of its own; its name
    # sorts after the Job's pod, so a listing by label alone would take its message.
    impostor = pod_template("1s")
    impostor["metadata"]["annotations"]["sim.agenttasks.io/message"] = "forged: s3://evil"
    impostor["spec"]["restartPolicy"] = "Never"  # so that it ends, with its message
    api.core.create_namespaced_pod(ns, {**impostor, "metadata": {
        **impostor["metadata"], "name": "zz-impostor", "labels": {"job-name": "genuine-1"}}})

    def impostor_message() -> str | None:
        statuses = api.core.read_namespaced_pod("zz-impostor", ns).status.container_statuses
        terminated = statuses and statuses[0].state.terminated
        return terminated.message if terminated else None

    # It has ended with its message before the Job's pod does, so the listing sees it.
    assert wait_for(impostor_message, 30, what="the impostor's message") == \
        "forged: s3://evil"
    assert api.status(ns, "genuine").get("phase") != "Completed"
    api.wait_phase(ns, "genuine", "Completed", 60)
    result = wait_for(lambda: api.status(ns, "genuine").get("result"), 10, what="result")
    assert result == {"attempt": 1, "message": "the real report"}


def test_a_namespace_the_operator_does_not_watch_is_not_served(
        api: Api, own_ns: str, operator: Operator) -> None:
    """A Secret planted to look like the operator's, in a namespace it does not watch: its
    token is refused (the unit tests show no Secret is even read). Its owner is a real
    task there, so the garbage collector leaves it in place."""
    task = api.create_task(own_ns, {"metadata": {"name": "outside"},
                                    "spec": {"template": pod_template("1h")}})
    planted_secret(api, own_ns, "outside", "planted", owner={
        "apiVersion": "agenttasks.io/v1alpha1", "kind": "AgentTask", "name": "outside",
        "uid": task["metadata"]["uid"], "controller": True})
    assert post(operator.port, own_ns, "outside", "planted", {"completed": 1}) == 401
