"""Dependency evaluation and cycle detection."""

from __future__ import annotations

from agenttasks.api.task import AgentTaskSpec
from agenttasks.core.dependencies import Dependency, evaluate, find_cycle
from agenttasks.core.plans import Plan, refusal, task_refusal


def lookup(graph: dict[str, Dependency]):  # type: ignore[no-untyped-def]
    return graph.get


def test_waiting_and_missing() -> None:
    graph = {"a": Dependency("Completed", "Succeeded"), "b": Dependency("InProgress", "Running")}
    state = evaluate("t", ["a", "b", "c"], lookup(graph))
    assert state.waiting == ("b",) and state.missing == ("c",)
    assert state.waiting_message() == \
        "waiting for b to complete; waiting for c (not created yet)"


def test_all_complete_is_satisfied() -> None:
    graph = {"a": Dependency("Completed", "Succeeded")}
    assert evaluate("t", ["a"], lookup(graph)).satisfied


def test_failed_or_cancelled_dependency() -> None:
    graph = {"a": Dependency("Cancelled", "Cancelled")}
    assert evaluate("t", ["a"], lookup(graph)).failed == ("a", "Cancelled")
    retrying = {"a": Dependency("Failed", "RetryScheduled")}
    assert evaluate("t", ["a"], lookup(retrying)).waiting == ("a",)


def test_cycle_through_the_task() -> None:
    graph = {"b": Dependency("Pending", None, ("c",)), "c": Dependency("Pending", None, ("a",))}
    assert evaluate("a", ["b"], lookup(graph)).cycle == ("a", "b", "c", "a")


def test_self_dependency_is_a_cycle() -> None:
    assert evaluate("a", ["a"], lookup({})).cycle == ("a", "a")


def test_depending_on_a_cycle_is_not_being_on_it() -> None:
    graph = {"b": Dependency("Pending", None, ("c",)), "c": Dependency("Pending", None, ("b",))}
    state = evaluate("a", ["b"], lookup(graph))
    assert state.cycle is None and state.waiting == ("b",)


def test_find_cycle_on_a_diamond_has_none() -> None:
    edges = {"d": ["b", "c"], "b": ["a"], "c": ["a"], "a": []}
    assert find_cycle("d", lambda n: edges[n]) is None


def test_plan_table() -> None:
    spec = AgentTaskSpec.model_validate({"template": {}, "dependsOn": ["x"]})
    assert task_refusal(Plan.STARTER, spec) == \
        "spec.dependsOn needs the growth plan or higher; this operator runs the starter plan"
    assert task_refusal(Plan.GROWTH, spec) is None
    assert refusal(Plan.STARTER, "AgentTaskSchedule") is not None
    assert refusal(Plan.ENTERPRISE, "AgentTaskSchedule") is None
    plain = AgentTaskSpec.model_validate({"template": {}})
    assert task_refusal(Plan.STARTER, plain) is None
