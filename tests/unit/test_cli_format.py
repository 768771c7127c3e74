"""The pure helpers of the user commands: durations, bars, the queue, the DAG, names.
(Rerun's name and manifest are tested with the other actions, in test_actions.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agenttasks.cli import format as fmt
from agenttasks.cli.errors import CliError, api_message, describe
from agenttasks.cli.kubeapi import SCHEDULES, TASKS, object_name, resource_name
from agenttasks.core.queue import Aging, Limits, Running, grant_order
from agenttasks.kube.client import ApiError

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def ts(delta_seconds: float) -> str:
    return (NOW + timedelta(seconds=delta_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def task(name: str, phase: str | None = None, reason: str | None = None, priority: int = 0,
         created: float = 0, depends_on: list[str] | None = None, namespace: str = "team",
         **status: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "agenttasks.io/v1alpha1", "kind": "AgentTask",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": ts(created)},
        "spec": {"priority": priority, "dependsOn": depends_on or [], "template": {}},
    }
    if phase:
        body["status"] = {"phase": phase, "reason": reason, **status}
    return body


@pytest.mark.parametrize(("seconds", "text"), [
    (-5, "0s"), (0, "0s"), (59, "59s"), (119, "119s"), (120, "2m"), (200, "3m20s"),
    (600, "10m"), (3 * 3600 - 1, "179m"), (3 * 3600, "3h"), (4 * 3600 + 300, "4h5m"),
    (8 * 3600, "8h"), (47 * 3600, "47h"), (48 * 3600, "2d"), (3 * 86400 + 7200, "3d2h"),
    (10 * 86400, "10d"), (800 * 86400, "2y"),
])
def test_human_duration(seconds: float, text: str) -> None:
    assert fmt.human_duration(seconds) == text


def test_age_and_relative() -> None:
    assert fmt.age(ts(-90), NOW) == "90s"
    assert fmt.age(None, NOW) == "-"
    assert fmt.relative(ts(300), NOW) == "in 5m"
    assert fmt.relative(ts(-300), NOW) == "5m ago"
    assert fmt.relative(None, NOW) == "-"
    assert fmt.took(ts(0), ts(75)) == "75s"
    assert fmt.took(ts(0), None) is None


def test_deadline_countdown() -> None:
    running = task("a", "InProgress", "Running")
    running["spec"]["deadline"] = ts(600)
    assert fmt.deadline_countdown(running, NOW) == "10m"
    running["spec"]["deadline"] = ts(-30)
    assert fmt.deadline_countdown(running, NOW) == "overdue 30s"
    done = task("b", "Completed", "Succeeded")
    done["spec"]["deadline"] = ts(600)
    assert fmt.deadline_countdown(done, NOW) == "-"
    retrying = task("c", "Failed", "RetryScheduled")  # not terminal: the clock still runs
    retrying["spec"]["deadline"] = ts(60)
    assert fmt.deadline_countdown(retrying, NOW) == "60s"
    assert fmt.deadline_countdown(task("d"), NOW) == "-"


@pytest.mark.parametrize(("percent", "bar"), [
    (None, "-"), (0, "░░░░░░░░░░   0%"), (60, "██████░░░░  60%"), (100, "██████████ 100%"),
    (150, "██████████ 100%"), (-3, "░░░░░░░░░░   0%"), (44, "████░░░░░░  44%"),
])
def test_progress_bar(percent: int | None, bar: str) -> None:
    assert fmt.progress_bar(percent) == bar


def test_progress_bar_ascii_and_width() -> None:
    assert fmt.progress_bar(50, width=4, ascii_only=True) == "##--  50%"


def test_task_progress_and_attempts() -> None:
    t = task("a", "InProgress", "Running", attempts=2, progress={"percent": 30})
    t["spec"]["retries"] = {"limit": 3}
    assert fmt.task_progress(t) == 30
    assert fmt.attempts_text(t) == "2/4"
    assert fmt.task_progress(task("b")) is None
    assert fmt.attempts_text(task("b")) == "0/1"


def test_job_for_attempt() -> None:
    t = task("report", "InProgress", "Running", attempts=3, jobName="report-3",
             history=[{"attempt": 1, "jobName": "report-x1"}])
    assert fmt.job_for_attempt(t, 1) == "report-x1"  # as recorded
    assert fmt.job_for_attempt(t, 3) == "report-3"
    assert fmt.job_for_attempt(t, 2) == "report-2"  # the operator's deterministic name
    long = task("x" * 70, "InProgress", "Running", attempts=1)
    assert len(fmt.job_for_attempt(long, 1)) <= 63


def test_queue_position_orders_by_priority_then_creation_then_name() -> None:
    tasks = [
        task("low-old", "Pending", "Queued", priority=0, created=-300),
        task("high-new", "Pending", "Queued", priority=5, created=-10),
        task("high-old", "Pending", "Queued", priority=5, created=-100),
        task("b-same", "Pending", "Queued", priority=1, created=-50),
        task("a-same", "Pending", "Queued", priority=1, created=-50),
        task("running", "InProgress", "Running", priority=100),
        task("waiting", "Pending", "WaitingForDependencies", priority=100),
    ]
    ranks = {t["metadata"]["name"]: fmt.queue_position(t, tasks) for t in tasks}
    assert ranks == {"high-old": (1, 5), "high-new": (2, 5), "a-same": (3, 5),
                     "b-same": (4, 5), "low-old": (5, 5), "running": None, "waiting": None}


def test_queue_position_counts_a_task_missing_from_the_list() -> None:
    me = task("me", "Pending", "Queued", priority=1)
    others = [task("other", "Pending", "Queued", priority=2)]
    assert fmt.queue_position(me, others) == (2, 2)
    same_name_elsewhere = task("me", "Pending", "Queued", priority=9, namespace="other-team")
    assert fmt.queue_position(me, [same_name_elsewhere]) == (2, 2)


def test_queue_position_follows_the_fair_share_between_namespaces() -> None:
    """Priority counts within a namespace only (core.queue): a namespace holding slots
    comes after one that holds none, whatever their priorities; equal holdings go by turn,
    then name."""
    tasks = [
        task("busy-run-1", "InProgress", "Running", namespace="busy"),
        task("busy-run-2", "InProgress", "Running", namespace="busy"),
        task("busy-high", "Pending", "Queued", priority=9, created=-100, namespace="busy"),
        task("quiet-low", "Pending", "Queued", priority=0, created=-10, namespace="quiet"),
        task("team-a", "Pending", "Queued", priority=5, created=-50),
        task("team-b", "Pending", "Queued", priority=4, created=-60),
    ]
    ranks = {t["metadata"]["name"]: fmt.queue_position(t, tasks) for t in tasks}
    # quiet and team hold none: quiet first by name, then team; team (1) beats busy (2).
    assert ranks == {"quiet-low": (1, 4), "team-a": (2, 4), "team-b": (3, 4),
                     "busy-high": (4, 4), "busy-run-1": None, "busy-run-2": None}


def test_queue_position_is_the_operators_order_with_aging() -> None:
    """describe ranks as core.queue grants slots: with 1/5m aging, an hour of waiting is worth 12
    priority steps; a retry waits from when it became due, not from creation."""
    tasks = [
        task("old-low", "Pending", "Queued", priority=0, created=-3600),
        task("new-high", "Pending", "Queued", priority=5, created=-60),
        task("retried", "Pending", "Queued", priority=3, created=-7200, nextRetryTime=ts(-60)),
    ]
    aging = Aging.parse("1/5m")

    def ranks(aging: Aging | None) -> list[str]:
        found = {t["metadata"]["name"]: fmt.queue_position(t, tasks, NOW, aging) for t in tasks}
        return [name for name, _ in sorted(found.items(), key=lambda kv: kv[1] or (0, 0))]

    assert ranks(None) == ["new-high", "retried", "old-low"]
    assert ranks(aging) == ["old-low", "new-high", "retried"]
    granted = grant_order([fmt.queue_candidate(t) for t in tasks], Running(0, {}), Limits(0),
                          NOW, aging)
    assert [c.name for c in granted] == ranks(aging)
    with pytest.raises(ValueError, match="needs now"):
        fmt.queue_position(tasks[0], tasks, aging=aging)


def test_display_name_on_one_line() -> None:
    named = task("report")
    named["spec"]["displayName"] = "Daily Sales Report -\n  US Region"
    assert fmt.display_name(named) == "Daily Sales Report - US Region"
    assert fmt.display_name(task("plain")) == ""


PIPELINE = [
    task("extract", "Completed", "Succeeded"),
    task("orders", "InProgress", "Running", depends_on=["extract"]),
    task("customers", "Completed", "Succeeded", depends_on=["extract"]),
    task("load", "Pending", "WaitingForDependencies", depends_on=["orders", "customers",
                                                                    "ghost"]),
]


def test_graph_dependents() -> None:
    graph = fmt.Graph.of(PIPELINE)
    assert graph.dependents["extract"] == ["customers", "orders"]
    assert graph.depends_on["load"] == ["orders", "customers", "ghost"]


def test_upstream_tree_with_missing_and_shared_nodes() -> None:
    tree = fmt.dependency_tree(fmt.Graph.of(PIPELINE), "load")
    assert (tree.name, tree.phase) == ("load", "Pending")
    orders, customers, ghost = tree.children
    assert (orders.name, orders.phase, orders.children[0].name) == ("orders", "InProgress",
                                                                    "extract")
    assert customers.children[0].name == "extract"  # a leaf: shown in full again
    assert (ghost.phase, ghost.note) == (None, "not found")
    lines = [(prefix, node.name) for prefix, node in fmt.tree_lines(tree)]
    assert lines == [("", "load"), ("├── ", "orders"), ("│   └── ", "extract"),
                     ("├── ", "customers"), ("│   └── ", "extract"), ("└── ", "ghost")]


def test_downstream_tree_expands_a_shared_node_once() -> None:
    tasks = [*PIPELINE, task("report", "Pending", "WaitingForDependencies",
                             depends_on=["load"])]
    tree = fmt.dependency_tree(fmt.Graph.of(tasks), "extract", upstream=False)
    customers, orders = tree.children
    assert customers.children[0].name == "load"
    assert customers.children[0].children[0].name == "report"
    assert (orders.children[0].name, orders.children[0].note) == ("load", "see above")
    assert orders.children[0].children == ()


def test_tree_stops_at_a_cycle() -> None:
    tasks = [task("a", "Failed", "DependencyCycle", depends_on=["b"]),
             task("b", "Failed", "DependencyCycle", depends_on=["a"])]
    tree = fmt.dependency_tree(fmt.Graph.of(tasks), "a")
    assert tree.children[0].name == "b"
    assert (tree.children[0].children[0].name, tree.children[0].children[0].note) == ("a",
                                                                                      "cycle")


def test_sort_events_by_last_occurrence() -> None:
    events = [{"reason": "late", "lastTimestamp": ts(10)},
              {"reason": "series", "eventTime": "2026-03-01T11:59:59.000000Z"},
              {"reason": "early", "lastTimestamp": ts(-10)}]
    assert [e["reason"] for e in fmt.sort_events(events)] == ["early", "series", "late"]


def test_object_names() -> None:
    assert object_name("report", TASKS) == "report"
    assert object_name("agenttask.agenttasks.io/report", TASKS) == "report"
    assert object_name("atask/report", TASKS) == "report"
    assert object_name("agenttaskschedule.agenttasks.io/nightly", SCHEDULES) == "nightly"
    with pytest.raises(CliError):
        object_name("job/report", TASKS)
    assert resource_name(TASKS) == "agenttask.agenttasks.io"


def _api_exception(status: int, message: str) -> ApiError:
    return ApiError(status, "Reason", message)


def test_error_lines() -> None:
    forbidden = _api_exception(403, 'agenttasks.agenttasks.io is forbidden: User "x" cannot '
                                    'list resource "agenttasks"')
    assert api_message(forbidden).startswith("agenttasks.agenttasks.io is forbidden")
    assert api_message(_api_exception(403, "no")) == "forbidden: no"
    assert api_message(_api_exception(401, "Unauthorized")).startswith("unauthorized")
    assert describe(CliError("two\nlines")) == "two lines"
    assert describe(FileNotFoundError(2, "No such file or directory", "/x")) == (
        "No such file or directory: /x")
