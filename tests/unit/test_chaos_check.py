"""The chaos checker fails on what it is meant to catch (no cluster needed)."""

from __future__ import annotations

from typing import Any

from tests.chaos.check import check
from tests.chaos.recorder import JobRecorder, Overrun
from tests.chaos.scenario import TaskPlan, pod


def _recorder(created: dict[tuple[str, int], set[str]], peak: int = 1) -> JobRecorder:
    recorder = JobRecorder(None, "ns", limit=2)  # type: ignore[arg-type]
    recorder.created.update(created)
    recorder.peak = peak
    return recorder


def _completed(attempts: int = 1) -> dict[str, Any]:
    return {"phase": "Completed", "reason": "Succeeded", "attempts": attempts,
            "history": [{"attempt": 1, "result": "Succeeded", "reason": "Succeeded"}],
            "conditions": [{"type": "Complete", "status": "True"},
                           {"type": "Ready", "status": "True"}]}


def test_a_clean_run_passes() -> None:
    plan = TaskPlan("a", "ok", pod("1s"))
    verdict = check([plan], {"a": _completed()}, _recorder({("a", 1): {"u1"}}), [])
    assert verdict.passed, verdict.problems


def test_a_second_job_for_an_attempt_is_a_duplicate() -> None:
    plan = TaskPlan("a", "ok", pod("1s"))
    verdict = check([plan], {"a": _completed()}, _recorder({("a", 1): {"u1", "u2"}}), [])
    assert verdict.duplicate_jobs == 1 and not verdict.passed


def test_a_task_not_terminal_or_with_another_outcome_is_lost() -> None:
    plans = [TaskPlan("a", "ok", pod("1s")), TaskPlan("b", "ok", pod("1s"))]
    statuses = {"a": {"phase": "InProgress", "reason": "Running", "attempts": 1},
                "b": {**_completed(), "phase": "Failed", "reason": "JobFailed"}}
    verdict = check(plans, statuses, _recorder({("a", 1): {"u1"}, ("b", 1): {"u2"}}), [])
    assert verdict.lost == ["a", "b"]


def test_an_overrun_and_a_job_without_attempt_fail() -> None:
    plan = TaskPlan("a", "ok", pod("1s"))
    recorder = _recorder({("a", 1): {"u1"}, ("a", 2): {"u2"}}, peak=3)
    recorder.overruns.append(Overrun("7", ("a-1", "b-1", "c-1")))
    verdict = check([plan], {"a": _completed()}, recorder, [])
    assert not verdict.passed
    assert any("attempts [1, 2]" in p for p in verdict.problems)
