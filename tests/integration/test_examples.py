"""Every example manifest is applied as a user would, and reaches its expected phase."""

from __future__ import annotations

import pytest

from .harness import REPO, Api, kubectl

EXPECTED = {
    "simple.yaml": ("simple", "Completed", "Succeeded"),
    "retries.yaml": ("flaky-crawler", "Failed", "JobFailed"),
    "timeout.yaml": ("stuck-agent", "Failed", "TimedOut"),
    "deadline.yaml": ("quarterly-summary", "Completed", "Succeeded"),
    "paused.yaml": ("held-for-review", "Paused", "Paused"),
    "batch.yaml": ("summarise-documents", "Completed", "Succeeded"),
}


@pytest.mark.parametrize("example", sorted(EXPECTED))
def test_example_reaches_expected_phase(api: Api, ns: str, example: str) -> None:
    name, phase, reason = EXPECTED[example]
    kubectl(api.kubeconfig, "apply", "-n", ns, "-f", str(REPO / "examples" / example))
    status = api.wait_phase(ns, name, phase, 90, reason=reason)
    if example == "retries.yaml":
        assert status["attempts"] == 3
    if example == "batch.yaml":
        assert status["progress"] == {"completed": 6, "total": 6, "percent": 100}


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
