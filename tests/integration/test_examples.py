"""Every example manifest is applied as a user would, and reaches its expected phase."""

from __future__ import annotations

import pytest

from .harness import REPO, Api, Operator, kubectl

EXPECTED = {
    "simple.yaml": ("simple", "Completed", "Succeeded"),
    "retries.yaml": ("flaky-crawler", "Failed", "JobFailed"),
    "timeout.yaml": ("stuck-agent", "Failed", "TimedOut"),
    "start-timeout.yaml": ("gpu-report", "Failed", "Unschedulable"),
    "deadline.yaml": ("quarterly-summary", "Completed", "Succeeded"),
    "paused.yaml": ("held-for-review", "Paused", "Paused"),
    "batch.yaml": ("summarise-documents", "Completed", "PartiallySucceeded"),
    "agent.yaml": ("example-agent", "Completed", "Succeeded"),
    "pipeline.yaml": ("load", "Completed", "Succeeded"),
}


@pytest.mark.parametrize("example", sorted(EXPECTED))
def test_example_reaches_expected_phase(api: Api, ns: str, example: str) -> None:
    name, phase, reason = EXPECTED[example]
    kubectl(api.kubeconfig, "apply", "-n", ns, "-f", str(REPO / "examples" / example))
    status = api.wait_phase(ns, name, phase, 90, reason=reason)
    if example == "retries.yaml":
        assert status["attempts"] == 3
    if example == "start-timeout.yaml":
        assert [r["reason"] for r in status["history"]] == ["Unschedulable"] * 2
    if example == "batch.yaml":
        items = status["progress"]["items"]
        assert (items["done"], items["leftItems"], status["attempts"]) == ("19/20", "13", 1)
    if example == "pipeline.yaml":  # load's pods read both transforms' results
        import json

        [job] = api.jobs(ns, "load")
        inputs = json.loads(job.spec.template.metadata.annotations["agenttasks.io/inputs"])
        assert [(i["name"], i["result"]["message"]) for i in inputs] == [
            ("transform-orders", "s3://example-bucket/clean/2026-12-01/orders.parquet"),
            ("transform-customers", "s3://example-bucket/clean/2026-12-01/customers.parquet")]


def test_schedule_example_is_ready_for_2am_new_york(api: Api, ns: str) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from .harness import wait_for

    kubectl(api.kubeconfig, "apply", "-n", ns, "-f",
            str(REPO / "examples" / "schedule-daily-report.yaml"))

    def status() -> dict[str, object] | None:
        body = api.custom.get_namespaced_custom_object(
            "agenttasks.io", "v1alpha1", ns, "agenttaskschedules", "daily-sales-report-us")
        return (body.get("status") or {}).get("nextScheduleTime") and body["status"]

    found = wait_for(status, 30, what="nextScheduleTime")
    local = datetime.fromisoformat(str(found["nextScheduleTime"]).replace("Z", "+00:00"))
    local = local.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (2, 0)


def test_trigger_example_accepts_a_signed_github_delivery(api: Api, ns: str,
                                                         operator: Operator) -> None:
    import hashlib
    import hmac
    import http.client
    import json

    from .harness import wait_for

    kubectl(api.kubeconfig, "apply", "-n", ns, "-f",
            str(REPO / "examples" / "trigger-github.yaml"))
    secret = "change-me-to-a-long-random-string"
    body = json.dumps({"action": "opened", "pull_request": {"number": 12, "base": {
        "ref": "main"}}, "repository": {"full_name": "acme/agents"}}).encode()
    headers = {"X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body,
                                                           hashlib.sha256).hexdigest(),
               "X-GitHub-Delivery": "example-1", "Content-Type": "application/json"}

    def deliver() -> dict[str, object] | None:
        conn = http.client.HTTPConnection("127.0.0.1", operator.port, timeout=10)
        conn.request("POST", f"/hooks/{ns}/pr-review", body=body, headers=headers)
        response = conn.getresponse()
        data = json.loads(response.read() or b"{}")
        conn.close()
        return data if response.status == 202 else None

    answer = wait_for(deliver, 30, interval=1, what="the example trigger to accept")
    api.wait_phase(ns, str(answer["task"]), "Completed", 60)
