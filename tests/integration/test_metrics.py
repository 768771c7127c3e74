"""/metrics exposes the operator's series; /readyz answers once the indexes are populated."""

from __future__ import annotations

import urllib.request

from .harness import Api, Operator, pod_template

SERIES = (
    "agenttasks_tasks", "agenttasks_queue_depth", "agenttasks_running",
    "agenttasks_slot_grants_total", "agenttasks_retries_total", "agenttasks_timeouts_total",
    "agenttasks_deadline_misses_total", "agenttasks_slot_to_job_seconds",
    "agenttasks_schedule_fire_lag_seconds", "agenttasks_webhook_requests_total",
)


def fetch(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_and_readiness(api: Api, ns: str, operator: Operator) -> None:
    api.create_task(ns, {"metadata": {"name": "measured"},
                         "spec": {"template": pod_template("1s")}})
    api.wait_phase(ns, "measured", "Completed", 60)
    assert fetch(operator.port, "/readyz") == (200, "ready\n")
    status, text = fetch(operator.port, "/metrics")
    assert status == 200
    for series in SERIES:
        assert f"# TYPE {series.removesuffix('_total')}" in text, series
    assert f'agenttasks_tasks{{namespace="{ns}",phase="Completed"}} 1.0' in text
    count = next(line for line in text.splitlines()
                 if line.startswith("agenttasks_slot_to_job_seconds_count"))
    assert float(count.split()[-1]) >= 1
    admissions = next(line for line in text.splitlines()
                      if line.startswith("agenttasks_slot_grants_total"))
    assert float(admissions.split()[-1]) >= 1
