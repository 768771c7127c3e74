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
