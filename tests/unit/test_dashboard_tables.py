"""The dashboard's rows and filters, and its fragments (pure functions)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from markupsafe import Markup

from agenttasks.api.schedule import AgentTaskScheduleSpec, AgentTaskScheduleStatus
from agenttasks.api.task import AgentTaskSpec, AgentTaskStatus, Phase, Progress
from agenttasks.api.trigger import AgentTaskTriggerSpec, AgentTaskTriggerStatus
from agenttasks.core.facts import TaskFacts, summarize
from agenttasks.core.schedule import ChildFacts, ScheduleFacts
from agenttasks.core.triggers import TriggerFacts
from agenttasks.web.fragments import (
    progress_bar,
    task_actions,
    task_detail_fragment,
    tasks_fragment,
)
from agenttasks.web.tables import (
    TaskRow,
    filter_tasks,
    in_scope,
    schedule_row,
    trigger_row,
)
from agenttasks.web.tables import task_row as summary_row

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
TEMPLATE = {"spec": {"containers": [{"name": "a", "image": "busybox"}]}}


def facts(ns: str, name: str, phase: Phase | None = None, minutes: int = 0,
          **spec: Any) -> TaskFacts:
    return TaskFacts(namespace=ns, name=name, uid=f"uid-{name}", generation=1,
                     created=T0 + timedelta(minutes=minutes),
                     spec=AgentTaskSpec(template=TEMPLATE, **spec),
                     status=AgentTaskStatus(phase=phase), resource_version="1")


def task_row(f: TaskFacts) -> TaskRow:
    """A row is made from what the view keeps of a task: its summary."""
    return summary_row(summarize(f))


# --- rows and filters -----------------------------------------------------------------------


def test_task_row() -> None:
    f = facts("a", "t", Phase.IN_PROGRESS, display_name="Report", paused=False)
    f.status.progress = Progress(completed=3, total=4, percent=75, message="rows")
    row = task_row(f)
    assert (row.phase, row.percent, row.progress_message, row.display_name) == (
        "InProgress", 75, "rows", "Report")
    assert not row.terminal and not row.paused
    assert task_row(facts("a", "new")).phase == "Pending"
    assert task_row(facts("a", "new")).percent is None
    assert task_row(facts("a", "done", Phase.COMPLETED)).terminal


def test_filter_by_scope_namespace_and_phase_newest_first() -> None:
    rows = [task_row(f) for f in (
        facts("a", "old", Phase.COMPLETED, 0), facts("a", "new", Phase.PENDING, 5),
        facts("b", "mid", Phase.COMPLETED, 3), facts("c", "secret", Phase.PENDING, 9))]
    names = [r.name for r in filter_tasks(rows, None)]
    assert names == ["secret", "new", "mid", "old"]
    assert [r.name for r in filter_tasks(rows, frozenset({"a", "b"}))] == ["new", "mid", "old"]
    assert [r.name for r in filter_tasks(rows, None, phase="Completed")] == ["mid", "old"]
    assert [r.name for r in filter_tasks(rows, None, namespace="a")] == ["new", "old"]
    # a namespace filter never widens the scope
    assert filter_tasks(rows, frozenset({"a"}), namespace="c") == []


def test_schedule_row_has_next_fire_and_last_runs() -> None:
    spec = AgentTaskScheduleSpec.model_validate({
        "schedule": "0 * * * *", "timeZone": "Europe/Paris",
        "taskTemplate": {"spec": {"template": TEMPLATE}}})
    status = AgentTaskScheduleStatus(next_schedule_time=T0, last_schedule_time=T0,
                                     active=["s-1"])
    sched = ScheduleFacts(namespace="a", name="s", uid="u", generation=1, created=T0,
                          spec=spec, status=status)
    children = [ChildFacts(name=f"s-{i}", owner_uid="u", created=T0 + timedelta(hours=i),
                           phase="Completed" if i < 6 else None, terminal=i < 6)
                for i in range(7)]
    row = schedule_row(sched, children)
    assert (row.schedule, row.time_zone, row.next_fire, row.active) == (
        "0 * * * *", "Europe/Paris", T0, 1)
    assert [r.name for r in row.runs] == ["s-6", "s-5", "s-4", "s-3", "s-2"]
    assert row.runs[0].phase == "Pending"


def test_trigger_row_and_scope() -> None:
    spec = AgentTaskTriggerSpec.model_validate({
        "secretRef": {"name": "s", "key": "k"}, "taskTemplate": {"spec": {"template": TEMPLATE}}})
    status = AgentTaskTriggerStatus.model_validate(
        {"deliveries": {"accepted": 5, "duplicate": 1, "rejected": 2}})
    trig = TriggerFacts(namespace="b", name="gh", uid="u", generation=1, spec=spec,
                        status=status)
    row = trigger_row(trig)
    assert (row.url, row.accepted, row.duplicate, row.rejected) == ("/hooks/b/gh", 5, 1, 2)
    assert in_scope([row], frozenset({"a"})) == []
    assert in_scope([row], None, "b") == [row]


# --- fragments ------------------------------------------------------------------------------

EVIL = '<img src=x onerror="alert(1)">'


def test_tasks_fragment_escapes_everything() -> None:
    f = facts("a", "t", Phase.FAILED, display_name=EVIL, description=EVIL)
    f.status.message = EVIL
    html = tasks_fragment([task_row(f)], 1, ["a"])
    assert "<img" not in html and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert 'data-phase="Failed"' in html and 'href="/tasks/a/t"' in html
    assert '<datalist id="namespace-list"><option value="a"></option></datalist>' in html


def test_tasks_fragment_empty_and_truncated() -> None:
    assert "No tasks match." in tasks_fragment([], 0, [])
    rows = [task_row(facts("a", f"t{i}")) for i in range(3)]
    assert "2 of 3 tasks" in tasks_fragment(rows[:2], 3, ["a"])


@pytest.mark.parametrize(("paused", "terminal", "actions"), [
    (False, False, ["pause", "cancel", "rerun"]),
    (True, False, ["resume", "cancel", "rerun"]),
    (False, True, ["rerun"]),
])
def test_task_actions(paused: bool, terminal: bool, actions: list[str]) -> None:
    html = task_actions("a", "t", paused, terminal)
    assert re.findall(r'data-action="([a-z-]+)"', html) == actions


def test_progress_bar_uses_the_progress_element() -> None:
    assert progress_bar(None) == '<span class="muted">-</span>'
    html = progress_bar(140, "<b>")
    assert '<progress max="100" value="100"' in html and "&lt;b&gt;" in html
    assert "style=" not in html  # the CSP allows no inline style


def test_task_detail_fragment() -> None:
    body = {
        "metadata": {"namespace": "a", "name": "t", "creationTimestamp": "2026-01-01T12:00:00Z"},
        "spec": {"deadline": "2026-01-02T00:00:00Z", "paused": True, "dependsOn": ["x"]},
        "status": {
            "phase": "Paused", "reason": "Paused", "attempts": 2, "jobName": "t-2",
            "progress": {"completed": 1, "total": 2, "percent": 50},
            "history": [{"attempt": 1, "jobName": "t-1", "result": "Failed",
                         "reason": "JobFailed", "message": EVIL}],
            "conditions": [{"type": "Reconciling", "status": "True", "reason": "Paused",
                            "lastTransitionTime": "2026-01-01T12:01:00Z"}],
            "result": {"summary": EVIL, "rows": 3}},
    }
    events = [{"type": "Normal", "reason": "Started", "message": "attempt 1",
               "lastTimestamp": "2026-01-01T12:00:01Z", "count": 1}]
    html = task_detail_fragment(body, events, "", Markup("<svg></svg>"), "")
    assert "<img" not in html
    for text in ("2026-01-02T00:00:00Z", "JobFailed", "Reconciling", "attempt 1", "t-2",
                 'value="50"', "&#34;rows&#34;: 3", "Result", "<svg></svg>"):
        assert text in html, text
    assert re.findall(r'data-action="([a-z-]+)"', html) == ["resume", "cancel", "rerun"]
    assert "(current)" in html  # attempt 2 has no history entry yet
    body["status"]["result"] = {"attempt": 2, "message": f"report at {EVIL}"}
    html = task_detail_fragment(body, events, "", Markup(), "")
    assert "From attempt 2." in html and "report at &lt;img" in html
    denied = task_detail_fragment(body, None, "You may not list events.", Markup(), "")
    assert "You may not list events." in denied and "No events." not in denied


def test_tasks_are_listed_by_display_name_with_the_name_beside() -> None:
    named = task_row(facts("a", "daily-42", display_name="Daily Sales Report - US Region"))
    plain = task_row(facts("a", "plain"))
    html = tasks_fragment([named, plain], 2, ["a"])
    assert ('<a href="/tasks/a/daily-42">Daily Sales Report - US Region</a>'
            '<div class="muted name">daily-42</div>') in html
    assert '<a href="/tasks/a/plain">plain</a></td>' in html  # no display name: the name


def test_the_task_page_is_titled_by_its_display_name() -> None:
    body = {"metadata": {"namespace": "a", "name": "t"}, "spec": {"displayName": "Report"},
            "status": {}}
    html = task_detail_fragment(body, None, "", Markup(), "")
    assert 'data-title="Report"' in html
    assert '<h2>Report <span class="muted">a/t</span></h2>' in html
    body["spec"] = {}
    assert 'data-title="t"' in task_detail_fragment(body, None, "", Markup(), "")
