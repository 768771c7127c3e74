"""Progress reported from inside an attempt with the pod's projected ServiceAccount token,
and the attempt's termination message as status.result.

No kubelet mounts tokens on the simulated node, so each test gets the token the kubelet
would write: a TokenRequest for the pod's ServiceAccount, bound to the pod, with our
audience. The API server checks it as it would check the mounted one (TokenReview); the
operator under test runs with the chart's RBAC."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from kubernetes.client.exceptions import ApiException

from agenttasks.manifests.progress_token import DEFAULT_AUDIENCE

from .harness import Api, Operator, pod_template, wait_for

TOKEN_FILE = "/var/run/secrets/agenttasks.io/progress/token"


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


def attempt_pod(api: Api, ns: str, task: str, attempt: int = 1, timeout: float = 30) -> Any:
    """The running pod that the attempt's Job controls."""
    job = f"{task}-{attempt}"

    def running() -> Any:
        for pod in api.core.list_namespaced_pod(ns, label_selector=f"job-name={job}").items:
            refs = pod.metadata.owner_references or []
            if pod.status.phase == "Running" and any(
                    r.controller and r.kind == "Job" and r.name == job for r in refs):
                return pod
        return None

    return wait_for(running, timeout, what=f"a running pod of Job {job}")


def mint(api: Api, pod: Any, audiences: tuple[str, ...] = (DEFAULT_AUDIENCE,),
         bound: bool = True) -> str:
    """What the kubelet mounts in ``pod``: a token of its ServiceAccount, bound to it."""
    spec: dict[str, Any] = {"audiences": list(audiences), "expirationSeconds": 600}
    if bound:
        spec["boundObjectRef"] = {"kind": "Pod", "apiVersion": "v1",
                                  "name": pod.metadata.name, "uid": pod.metadata.uid}
    account = pod.spec.service_account_name or "default"
    return str(api.core.create_namespaced_service_account_token(
        account, pod.metadata.namespace, {"spec": spec}).status.token)


def bare_pod(api: Api, ns: str, name: str, labels: dict[str, str] | None = None) -> Any:
    """A pod of someone else's, running on the simulated node."""
    template = pod_template("1h")
    api.core.create_namespaced_pod(ns, {**template, "metadata": {
        **template["metadata"], "name": name, "labels": labels or {}}})

    def running() -> Any:
        pod = api.core.read_namespaced_pod(name, ns)
        return pod if pod.status.phase == "Running" else None

    return wait_for(running, 30, what=f"pod {name} running")


def test_agent_progress_reaches_status(api: Api, ns: str, operator: Operator) -> None:
    api.create_task(ns, {"metadata": {"name": "reporter"},
                         "spec": {"template": pod_template("1h")}})
    api.wait_phase(ns, "reporter", "InProgress", 30)
    [job] = api.jobs(ns, "reporter")
    pod_spec = job.spec.template.spec
    [volume] = [v for v in pod_spec.volumes if v.name == "agenttasks-progress-token"]
    [source] = volume.projected.sources
    assert (source.service_account_token.audience,
            source.service_account_token.expiration_seconds) == (DEFAULT_AUDIENCE, 3600)
    [container] = pod_spec.containers
    env = {e.name: e.value for e in container.env}
    assert env["AGENTTASK_PROGRESS_URL"].endswith(f"/progress/{ns}/reporter")
    assert env["AGENTTASK_PROGRESS_TOKEN_FILE"] == TOKEN_FILE
    assert "AGENTTASK_PROGRESS_TOKEN" not in env
    [mount] = [m for m in container.volume_mounts if m.name == volume.name]
    assert mount.read_only and TOKEN_FILE.startswith(mount.mount_path + "/")
    secrets = {s.metadata.name for s in api.core.list_namespaced_secret(ns).items}
    assert "reporter-progress" not in secrets  # nothing is written per task
    token = mint(api, attempt_pod(api, ns, "reporter"))
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


def test_a_pods_token_counts_only_for_its_own_task_and_with_our_audience(
        api: Api, ns: str, operator: Operator) -> None:
    for name in ("mine", "theirs"):
        api.create_task(ns, {"metadata": {"name": name},
                             "spec": {"template": pod_template("1h")}})
    mine, theirs = attempt_pod(api, ns, "mine"), attempt_pod(api, ns, "theirs")
    token = mint(api, mine)
    assert post(operator.port, ns, "mine", token, {"completed": 1, "total": 2}) == 202
    assert post(operator.port, ns, "theirs", token, {"completed": 2, "total": 2}) == 401
    # Tokens of the right pod that are not for us: another service's audience, the API
    # server's own (what automountServiceAccountToken gives), and one bound to no pod.
    for other in (mint(api, mine, ("vault",)),
                  mint(api, mine, ("https://kubernetes.default.svc.cluster.local",)),
                  mint(api, mine, bound=False)):
        assert post(operator.port, ns, "mine", other, {"completed": 2, "total": 2}) == 401
    assert post(operator.port, ns, "theirs", mint(api, theirs), {"completed": 1}) == 202
    status = wait_for(lambda: (api.status(ns, "theirs").get("progress") or {}).get(
        "completed") == 1 and api.status(ns, "mine"), 15, what="both progresses")
    assert status["progress"]["completed"] == 1  # "theirs" never took mine's report
    for name in ("mine", "theirs"):
        api.patch_task(ns, name, {"spec": {"cancelled": True}})


def test_a_token_of_another_attempt_is_refused(api: Api, ns: str, operator: Operator) -> None:
    api.create_task(ns, {"metadata": {"name": "retried"}, "spec": {
        "retries": {"limit": 1, "delay": 1}, "template": pod_template("6s", "Failed")}})
    first_pod = attempt_pod(api, ns, "retried", 1)
    first = mint(api, first_pod)
    assert post(operator.port, ns, "retried", first, {"completed": 1, "total": 2}) == 202
    second = mint(api, attempt_pod(api, ns, "retried", 2, timeout=60))
    wait_for(lambda: api.status(ns, "retried").get("attempts") == 2, 10, what="attempt 2")
    # The first attempt's pod still exists (it failed), so the API server still takes its
    # token: the operator refuses it, as its Job is not the current attempt's.
    assert not pod_gone(api, ns, first_pod.metadata.name)
    assert post(operator.port, ns, "retried", first, {"completed": 1, "total": 2}) == 401
    assert post(operator.port, ns, "retried", second, {"completed": 1, "total": 2}) == 202


def test_a_token_of_a_deleted_pod_is_refused(api: Api, ns: str, operator: Operator) -> None:
    """Retries wait an hour, so the attempt stays the current one: only the pod is gone."""
    api.create_task(ns, {"metadata": {"name": "doomed"}, "spec": {
        "retries": {"limit": 1, "delay": "1h"}, "template": pod_template("1h")}})
    pod = attempt_pod(api, ns, "doomed")
    used, unused = mint(api, pod), mint(api, pod)
    assert post(operator.port, ns, "doomed", used, {"completed": 1, "total": 2}) == 202
    api.core.delete_namespaced_pod(pod.metadata.name, ns, grace_period_seconds=0)
    wait_for(lambda: pod_gone(api, ns, pod.metadata.name), 30, what="the pod to be gone")
    # Never reviewed before: the API server refuses a token whose pod is gone.
    assert post(operator.port, ns, "doomed", unused, {"completed": 2, "total": 2}) == 401
    # Reviewed while its pod ran, and kept: refused from memory once the operator has seen
    # the attempt's Job fail, which deleting its only pod does (backoffLimit 0).
    status = api.wait_phase(ns, "doomed", "Failed", 30, reason="RetryScheduled")
    assert status["attempts"] == 1
    assert post(operator.port, ns, "doomed", used, {"completed": 2, "total": 2}) == 401
    api.patch_task(ns, "doomed", {"spec": {"cancelled": True}})


def pod_gone(api: Api, ns: str, name: str) -> bool:
    try:
        api.core.read_namespaced_pod(name, ns)
    except ApiException as exc:
        return exc.status == 404
    return False


def test_a_pod_that_only_looks_like_the_attempts_is_refused(
        api: Api, ns: str, operator: Operator) -> None:
    """A pod someone else made with the labels of the attempt's pods (no Job controls it):
    its token is valid for our audience, and refused. This replaces the planted
    ``<task>-progress`` Secret of old: there is nothing left to plant."""
    api.create_task(ns, {"metadata": {"name": "copied"},
                         "spec": {"template": pod_template("1h")}})
    real = attempt_pod(api, ns, "copied")
    lookalike = bare_pod(api, ns, "copied-1-lookalike", dict(real.metadata.labels))
    assert post(operator.port, ns, "copied", mint(api, lookalike), {"completed": 1}) == 401
    assert post(operator.port, ns, "copied", mint(api, real), {"completed": 1}) == 202
    api.patch_task(ns, "copied", {"spec": {"cancelled": True}})


def test_reports_for_a_finished_task_are_refused(api: Api, ns: str, operator: Operator) -> None:
    api.create_task(ns, {"metadata": {"name": "finishing"},
                         "spec": {"template": pod_template("1h")}})
    token = mint(api, attempt_pod(api, ns, "finishing"))
    assert post(operator.port, ns, "finishing", token, {"completed": 1, "total": 2}) == 202
    api.patch_task(ns, "finishing", {"spec": {"cancelled": True}})
    api.wait_phase(ns, "finishing", "Cancelled", 30)
    assert post(operator.port, ns, "finishing", token, {"completed": 2, "total": 2}) == 401


def test_termination_message_becomes_the_result(api: Api, ns: str) -> None:
    template = pod_template("1s")
    template["metadata"]["annotations"]["sim.agenttasks.io/message"] = \
        "report: s3://reports/2026-11-25/sales-us.pdf"
    api.create_task(ns, {"metadata": {"name": "reporting"}, "spec": {"template": template}})
    status = api.wait_phase(ns, "reporting", "Completed", 60)
    result = status.get("result") or wait_for(
        lambda: api.status(ns, "reporting").get("result"), 10, what="result")
    assert result == {"attempt": 1, "message": "report: s3://reports/2026-11-25/sales-us.pdf"}


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
    """A valid token of a pod in a namespace the operator does not watch, for a task there:
    refused (the unit tests show it costs not even a review)."""
    api.create_task(own_ns, {"metadata": {"name": "outside"},
                             "spec": {"template": pod_template("1h")}})
    pod = bare_pod(api, own_ns, "outside-1-pod", {"agenttasks.io/task": "outside"})
    assert post(operator.port, own_ns, "outside", mint(api, pod), {"completed": 1}) == 401
