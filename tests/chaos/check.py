"""Compares each task's final status and Jobs with what its spec implies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.chaos.recorder import JobRecorder, running
from tests.chaos.scenario import TaskPlan


@dataclass
class Verdict:
    tasks: int = 0
    terminal: int = 0
    lost: list[str] = field(default_factory=list)  # not terminal, or not the expected outcome
    duplicate_jobs: int = 0  # Jobs created beyond one per attempt
    problems: list[str] = field(default_factory=list)  # every failed check, one line each
    peak_running: int = 0
    limit: int = 0
    overruns: int = 0

    @property
    def passed(self) -> bool:
        return not self.lost and not self.duplicate_jobs and not self.problems \
            and not self.overruns


def is_terminal(status: dict[str, Any]) -> bool:
    phase = status.get("phase")
    return phase in ("Completed", "Cancelled") or (
        phase == "Failed" and status.get("reason") != "RetryScheduled")


def check(plans: list[TaskPlan], statuses: dict[str, dict[str, Any]], recorder: JobRecorder,
          final_jobs: list[dict[str, Any]]) -> Verdict:
    verdict = Verdict(tasks=len(plans), peak_running=recorder.peak, limit=recorder.limit,
                      overruns=len(recorder.overruns))
    for overrun in recorder.overruns[:5]:
        verdict.problems.append(f"{len(overrun.running)} Jobs running at resourceVersion "
                                f"{overrun.resource_version}: {', '.join(overrun.running)}")
    known = {p.name for p in plans}
    for task, attempt in sorted(recorder.created):
        if task not in known:
            verdict.problems.append(f"Job for unknown task {task} (attempt {attempt})")
    for plan in plans:
        status = statuses.get(plan.name, {})
        verdict.terminal += is_terminal(status)
        wrong = _outcome_errors(plan, status)
        jobs = _job_errors(plan, status, recorder)
        verdict.duplicate_jobs += sum(
            len(uids) - 1 for (task, _), uids in recorder.created.items()
            if task == plan.name and len(uids) > 1)
        if wrong:
            verdict.lost.append(plan.name)
        verdict.problems += [f"{plan.name} ({plan.kind}): {e}" for e in wrong + jobs]
    still = [j["metadata"]["name"] for j in final_jobs if running(j)]
    if still:
        verdict.problems.append(f"Jobs still running after every task ended: {still}")
    return verdict


def _outcome_errors(plan: TaskPlan, status: dict[str, Any]) -> list[str]:
    want = plan.outcome()
    phase, reason, attempts = status.get("phase"), status.get("reason"), status.get("attempts", 0)
    if not is_terminal(status):
        return [f"not terminal: {phase}/{reason} ({status.get('message')})"]
    errors = []
    if (phase, reason) != (want.phase, want.reason):
        errors.append(f"ended {phase}/{reason} ({status.get('message')}), "
                      f"expected {want.phase}/{want.reason}")
    if attempts not in want.attempts:
        errors.append(f"attempts {attempts}, expected {sorted(want.attempts)}")
    history = status.get("history") or []
    got = tuple((h.get("result"), h.get("reason")) for h in history)
    if got != want.history:
        errors.append(f"history {got}, expected {want.history}")
    if [h.get("attempt") for h in history] != list(range(1, len(history) + 1)):
        errors.append(f"history attempts {[h.get('attempt') for h in history]}")
    errors += _condition_errors(phase, status.get("conditions") or [])
    return errors


def _condition_errors(phase: str | None, conditions: list[dict[str, Any]]) -> list[str]:
    true = {c.get("type") for c in conditions if c.get("status") == "True"}
    wanted = {"Completed": {"Complete", "Ready"}, "Failed": {"Failed", "Stalled"},
              "Cancelled": {"Failed", "Stalled"}}.get(phase or "", set())
    return [] if true == wanted else [f"conditions True {sorted(true)}, expected "
                                      f"{sorted(wanted)}"]


def _job_errors(plan: TaskPlan, status: dict[str, Any], recorder: JobRecorder) -> list[str]:
    attempts = int(status.get("attempts") or 0)
    made = {a: uids for (task, a), uids in recorder.created.items() if task == plan.name}
    errors = [f"attempt {a} has {len(uids)} Jobs (uids {sorted(uids)})"
              for a, uids in sorted(made.items()) if len(uids) > 1]
    if set(made) != set(range(1, attempts + 1)):
        errors.append(f"Jobs were created for attempts {sorted(made)}, status says "
                      f"{attempts} attempts")
    return errors
