"""What the admission webhook refuses, as pure checks."""

from __future__ import annotations

from agenttasks.core.admission import check_schedule, check_task, check_trigger
from agenttasks.core.plans import Plan

TEMPLATE = {"spec": {"containers": [{"name": "a", "image": "busybox"}]}}
SCHEDULE = {"schedule": "0 2 * * *", "taskTemplate": {"spec": {"template": TEMPLATE}}}


def test_schedule_checks_cron_zone_and_plan() -> None:
    assert check_schedule(SCHEDULE, Plan.GROWTH) is None
    assert "spec.schedule" in (check_schedule({**SCHEDULE, "schedule": "1 2 3"}, Plan.GROWTH)
                               or "")
    assert "spec.timeZone" in (check_schedule({**SCHEDULE, "timeZone": "X/Y"}, Plan.GROWTH)
                               or "")
    assert "growth plan" in (check_schedule(SCHEDULE, Plan.STARTER) or "")


def test_task_cycle_with_existing_tasks() -> None:
    existing = {"a": ["b"], "b": ["c"]}
    spec = {"template": TEMPLATE, "dependsOn": ["a"]}
    why = check_task("c", spec, Plan.ENTERPRISE, lambda n: existing.get(n, []))
    assert why == "spec.dependsOn would close a cycle: c -> a -> b -> c"
    assert check_task("d", spec, Plan.ENTERPRISE, lambda n: existing.get(n, [])) is None
    assert "dependsOn" in (check_task("d", spec, Plan.STARTER, lambda n: []) or "")


def test_trigger_filter_and_params() -> None:
    base = {"secretRef": {"name": "s", "key": "k"}, "taskTemplate": {"spec": {
        "template": TEMPLATE}}}
    assert check_trigger({**base, "filter": 'body.a == "b"'}) is None
    assert "spec.filter" in (check_trigger({**base, "filter": "body.a =="}) or "")
    assert "spec.params.X" in (check_trigger({**base, "params": {"X": "a..b"}}) or "")
