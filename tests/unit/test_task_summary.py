"""What the view keeps of a terminal task (core.facts.TaskSummary, manifests.tasks.task_entry)
and when a pass over it needs the whole task (core.lifecycle.settled): pure functions."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from agenttasks.api.task import (
    AgentTaskSpec,
    AgentTaskStatus,
    AttemptRecord,
    Phase,
    Progress,
    TaskResult,
)
from agenttasks.core.facts import (
    JobFacts,
    TaskFacts,
    TaskSummary,
    summarize,
    summary_of,
    with_status,
)
from agenttasks.core.lifecycle import KEEP_JOBS, decide, settled
from agenttasks.manifests.tasks import status_patch, task_entry
from tests.perf.stored_tasks import stored_task

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
TEMPLATE = {"spec": {"containers": [{"name": "a", "image": "busybox"}]}}


def record(attempt: int, result: str = "Succeeded") -> AttemptRecord:
    return AttemptRecord(attempt=attempt, job_name=f"t-{attempt}", start_time=T0,
                         completion_time=T0 + timedelta(minutes=1), result=result,
                         reason="Succeeded" if result == "Succeeded" else "JobFailed")


def finished(attempts: int = 1, history: tuple[int, ...] = (1,), result: int | None = 1,
             observed: int | None = 1, phase: Phase = Phase.COMPLETED) -> TaskFacts:
    status = AgentTaskStatus(
        phase=phase, reason="Succeeded" if phase == Phase.COMPLETED else "Cancelled",
        message="done", attempts=attempts, job_name=f"t-{attempts}" if attempts else None,
        completion_time=T0 + timedelta(minutes=2), observed_generation=observed,
        history=[record(a) for a in history],
        result=TaskResult(attempt=result, message="ok") if result is not None else None,
        progress=Progress(completed=1, total=1, percent=100, message="all rows"))
    return TaskFacts(namespace="team", name="t", uid="uid-t", generation=1, created=T0,
                     spec=AgentTaskSpec(template=TEMPLATE, display_name="Report",
                                        depends_on=["a", "b"]),
                     status=status, resource_version="7")


def job(attempt: int, done: bool = True, deleting: bool = False, uid: str = "uid-t"
        ) -> JobFacts:
    return JobFacts(name=f"t-{attempt}", attempt=attempt, created=T0, owner_uid=uid,
                    uid=f"job-{attempt}", outcome="Complete" if done else None,
                    finished_at=T0 + timedelta(minutes=1) if done else None,
                    started_at=T0, deleting=deleting)


# --- the summary ------------------------------------------------------------------------------


def test_a_summary_holds_what_readers_read_and_nothing_of_the_template() -> None:
    summary = summarize(finished(attempts=3, history=(1, 2, 3), result=3))
    assert (summary.key, summary.uid, summary.phase, summary.reason, summary.message) == (
        ("team", "t"), "uid-t", Phase.COMPLETED, "Succeeded", "done")
    assert (summary.attempts, summary.recorded, summary.result_attempt) == (3, (1, 2, 3), 3)
    assert (summary.percent, summary.progress_message) == (100, "all rows")
    assert (summary.display_name, summary.depends_on, summary.paused) == (
        "Report", ("a", "b"), False)
    assert summary.terminal and summary.observed_generation == 1
    assert not hasattr(summary, "__dict__")  # slots: no per-object dict
    assert "template" not in repr(summary)


def test_an_invalid_spec_summarizes_as_no_title_no_dependencies() -> None:
    facts = TaskFacts(namespace="team", name="t", uid="u", generation=1, created=T0,
                      spec=None, status=AgentTaskStatus(phase=Phase.FAILED,
                                                        reason="InvalidSpec"),
                      spec_error="spec.template: Field required")
    summary = summarize(facts)
    assert (summary.display_name, summary.depends_on, summary.paused) == ("", (), False)
    assert (summary.percent, summary.progress_message, summary.message) == (None, "", "")


def test_with_status_replaces_the_status_of_facts_and_summaries_alike() -> None:
    facts = finished()
    status = facts.status.model_copy(update={"message": "written", "observed_generation": 2})
    whole = with_status(facts, status, "9")
    assert isinstance(whole, TaskFacts) and whole.status is status
    assert whole.resource_version == "9"
    slim = with_status(summarize(facts), status, "9")
    assert isinstance(slim, TaskSummary)
    assert (slim.message, slim.observed_generation, slim.resource_version) == ("written", 2, "9")
    assert summary_of(whole) == slim


def test_task_entry_keeps_a_summary_of_a_terminal_task_and_the_facts_of_others() -> None:
    body = stored_task(3)
    entry = task_entry(body)
    assert isinstance(entry, TaskSummary) and entry.phase == Phase.COMPLETED
    assert entry == summarize_body(body)
    running = copy.deepcopy(body)
    running["status"] = {"phase": "InProgress", "reason": "Running", "attempts": 1}
    assert isinstance(task_entry(running), TaskFacts)
    retrying = copy.deepcopy(body)
    retrying["status"].update(phase="Failed", reason="RetryScheduled")
    assert isinstance(task_entry(retrying), TaskFacts)  # Failed, but not terminal
    garbled = copy.deepcopy(body)
    garbled["status"]["history"] = "not a list"  # an unreadable status reads as empty
    assert isinstance(task_entry(garbled), TaskFacts)


def summarize_body(body: dict[str, Any]) -> TaskSummary:
    from agenttasks.manifests.tasks import task_facts

    return summarize(task_facts(body))


def test_task_entry_shares_one_copy_of_repeated_strings_and_histories() -> None:
    one, other = task_entry(stored_task(1)), task_entry(stored_task(971))  # same title, reason
    assert isinstance(one, TaskSummary) and isinstance(other, TaskSummary)
    assert one.namespace is other.namespace and one.key[0] is other.namespace
    assert one.reason is other.reason and one.display_name is other.display_name
    assert one.recorded is other.recorded


# --- settled: when a pass needs the whole task --------------------------------------------------


def summary(**kw: Any) -> TaskSummary:
    return summarize(finished(**kw))


def test_a_finished_task_whose_jobs_say_nothing_new_is_settled() -> None:
    assert settled(summary(), [])
    assert settled(summary(), [job(1)])
    assert settled(summary(attempts=3, history=(1, 2, 3), result=3),
                   [job(1), job(2), job(3)])


def test_what_a_pass_would_change_is_not_settled() -> None:
    assert not settled(summarize(TaskFacts("team", "t", "u", 1, T0, None,
                                           AgentTaskStatus(phase=Phase.IN_PROGRESS))), [])
    assert not settled(summary(observed=None), [])  # observedGeneration is behind
    assert not settled(summary(history=()), [job(1)])  # a record for history
    assert not settled(summary(result=None), [job(1)])  # a result to read
    assert not settled(summary(), [job(2)])  # an attempt status does not know
    assert not settled(summary(), [job(1, done=False)])  # a running Job to delete
    assert settled(summary(), [job(1, done=False, deleting=True)])
    old = KEEP_JOBS + 1
    many = summary(attempts=old, history=tuple(range(1, old + 1)), result=old)
    assert not settled(many, [job(1), job(old)])  # an old attempt's Job to delete
    assert settled(many, [job(1, deleting=True), job(old)])
    assert not settled(summary(attempts=2, history=(2, 1), result=2), [])  # reordered


def _cases() -> list[tuple[TaskFacts, list[JobFacts]]]:
    cases = []
    for attempts, observed, result, phase in itertools.product(
            (1, 2, 7), (1, None), (None, 1, 2, 7), (Phase.COMPLETED, Phase.CANCELLED)):
        for history in ((), tuple(range(1, attempts + 1)), (1,)):
            facts = finished(attempts=attempts, history=history, result=result,
                             observed=observed, phase=phase)
            for jobs in ([], [job(attempts)], [job(attempts, done=False)],
                         [job(attempts, done=False, deleting=True)], [job(1), job(attempts)],
                         [job(attempts + 1, done=False)]):
                cases.append((facts, jobs))
    return cases


def test_settled_is_what_decide_answers_over_the_whole_task() -> None:
    """Whenever ``settled`` says a pass needs nothing more, ``decide`` over the whole task
    writes nothing and does nothing (given the result the shell would not read)."""
    agreed = 0
    for facts, jobs in _cases():
        if not settled(summarize(facts), jobs):
            continue
        decision = decide(facts, jobs, T0 + timedelta(hours=1))
        assert status_patch(facts.status, decision.status) is None, (facts.status, jobs)
        assert decision.actions == (), (facts.status, jobs)
        agreed += 1
    assert agreed > 20  # the cases do reach the settled side
