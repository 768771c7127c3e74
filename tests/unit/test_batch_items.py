"""Batch items across attempts, failure rules and memory raises: the pure decisions."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from agenttasks.api.failure_rules import FailureRule, RuleAction
from agenttasks.api.task import AgentTaskSpec, Phase, Reason
from agenttasks.core.actions import CreateJob
from agenttasks.core.batch import plan_items
from agenttasks.core.facts import ContainerEnd, FailedPod
from agenttasks.core.failures import judge, raised_memory
from agenttasks.core.lifecycle import decide
from agenttasks.core.quantity import format_memory, memory_bytes
from tests.unit.test_lifecycle import T0, evolve, job, task

BATCH = {"completions": 20, "batch": {"minSucceededItems": 19}, "retries": {"limit": 1,
                                                                           "delay": 0}}


def created(actions: tuple[object, ...]) -> CreateJob:
    return next(a for a in actions if isinstance(a, CreateJob))


def test_the_first_attempt_runs_every_item_and_needs_them_all_but_one() -> None:
    d = decide(task(**BATCH), [], T0)
    plan = created(d.actions).items
    assert plan is not None and plan.ranges == "0-19" and plan.succeeded_needed == 19
    assert plan.item_retries == 0 and plan.max_failed is None


def test_a_retry_runs_only_the_items_left_and_needs_only_what_is_missing() -> None:
    t = task(**BATCH)
    first = decide(t, [], T0)
    failed = job(1, "Failed", items="0-19", completions=20,
                 completed_indexes="0-2,4-6,8-11,13-19", failed_indexes="3,7,12",
                 failed_pods=(FailedPod((ContainerEnd("a", 1),)),))
    after = decide(evolve(t, first.status), [failed], T0 + timedelta(seconds=6))
    record = after.status.history[0]
    assert record.items is not None and record.items.failed == "3,7,12"
    assert record.exit_code == 1 and record.counted
    plan = created(after.actions).items  # the retry is due at once (delay 0)
    assert plan is not None and plan.items == (3, 7, 12) and plan.succeeded_needed == 2
    # Attempt 2 succeeds for items 3 and 7 (its indexes 0 and 1); the policy completes it.
    second = job(2, "Complete", items="3,7,12", completions=3, completed_indexes="0,1",
                 failed_indexes="2")
    done = decide(evolve(t, after.status), [failed, second], T0 + timedelta(seconds=20))
    assert (done.status.phase, done.status.reason) == (Phase.COMPLETED,
                                                        Reason.PARTIALLY_SUCCEEDED)
    items = done.status.progress and done.status.progress.items
    assert items and (items.succeeded, items.failed, items.remaining) == (19, 1, 0)
    assert items.failed_items == "12" and items.done == "19/20"
    assert items.left_items == "12"
    assert done.status.message == \
        "19 of 20 items succeeded by attempt 2 (Job t-2); not succeeded: 12"
    # The Job controller may fail the Job on the failed index before its success policy:
    # enough items succeeded all the same.
    lost_race = replace(second, outcome="Failed")
    also = decide(evolve(t, after.status), [failed, lost_race], T0 + timedelta(seconds=20))
    assert (also.status.phase, also.status.reason) == (Phase.COMPLETED,
                                                        Reason.PARTIALLY_SUCCEEDED)
    assert done.status.history[1].items is not None
    assert done.status.history[1].items.ran == "3,7,12"


def test_an_item_stopped_by_the_success_policy_keeps_its_earlier_failure() -> None:
    t = task(**BATCH)
    first = decide(t, [], T0)
    failed = job(1, "Failed", items="0-19", completions=20,
                 completed_indexes="0-2,4-6,8-11,13-19", failed_indexes="3,7,12")
    after = decide(evolve(t, first.status), [failed], T0 + timedelta(seconds=6))
    # Items 3 and 7 succeed; 12 was still running when the policy completed the Job.
    stopped = job(2, "Complete", items="3,7,12", completions=3, completed_indexes="0,1")
    done = decide(evolve(t, after.status), [failed, stopped], T0 + timedelta(seconds=20))
    items = done.status.progress and done.status.progress.items
    assert items and (items.failed_items, items.left_items, items.remaining) == ("12", "12", 0)


def test_the_plan_survives_a_history_that_dropped_its_oldest_records() -> None:
    spec = AgentTaskSpec.model_validate({"template": {}, **BATCH})
    t = task(**BATCH)
    d = decide(t, [job(1, "Failed", items="0-19", completions=20,
                       completed_indexes="0-9", failed_indexes="10-19")], T0)
    history = d.status.history  # only the newest record is needed
    plan = plan_items(spec, history[-1:])
    assert plan is not None and plan.items == tuple(range(10, 20))


def test_an_item_count_that_needs_every_left_item_sets_no_success_policy() -> None:
    spec = AgentTaskSpec.model_validate({"template": {}, "completions": 4,
                                         "batch": {"maxFailedItems": 3, "itemRetries": 2}})
    plan = plan_items(spec, [])
    assert plan is not None and plan.succeeded_needed is None and plan.max_failed == 3
    assert plan.item_retries == 2
    assert plan_items(AgentTaskSpec.model_validate({"template": {}}), []) is None


def test_a_running_batch_counts_items_over_attempts() -> None:
    t = task(**BATCH)
    running = job(2, items="3,7,12", completions=3, completed_indexes="1", active=2)
    d = decide(t, [running], T0)
    items = d.status.progress and d.status.progress.items
    assert items and (items.succeeded, items.done) == (18, "18/20")


def rule(**kw: Any) -> FailureRule:
    return FailureRule.model_validate(kw)


def test_the_first_matching_rule_judges_each_pod() -> None:
    rules = [rule(exitCodes=[2], action="FailTask"), rule(exitCodes=[75], action="Ignore")]
    bug = FailedPod((ContainerEnd("a", 2),))
    flaky = FailedPod((ContainerEnd("a", 75),))
    plain = FailedPod((ContainerEnd("a", 1),))
    assert judge(rules, [flaky, bug]).action == RuleAction.FAIL_TASK  # type: ignore[union-attr]
    ignored = judge(rules, [flaky])
    assert ignored is not None and ignored.action == RuleAction.IGNORE and ignored.index == 1
    assert judge(rules, [flaky, plain]) is None  # a plain failure among them counts
    assert judge([rule(exitCodes=[2], container="b", action="FailTask")], [bug]) is None


def test_a_disruption_does_not_count_unless_a_rule_says_so() -> None:
    evicted = FailedPod((ContainerEnd("a", 137),), disrupted=True)
    default = judge([], [evicted])
    assert default is not None and default.action == RuleAction.IGNORE
    assert default.index is None and default.label.startswith("default")
    counted = judge([rule(onDisruption=True, action="Retry")], [evicted])
    assert counted is not None and counted.action == RuleAction.RETRY


def test_a_non_retryable_exit_code_ends_the_task_at_once() -> None:
    spec = {"retries": {"limit": 3, "rules": [{"exitCodes": [2], "action": "FailTask"}]}}
    t = task(**spec)
    first = decide(t, [], T0)
    failed = job(1, "Failed", failed_pods=(FailedPod((ContainerEnd("a", 2),)),))
    d = decide(evolve(t, first.status), [failed], T0 + timedelta(seconds=6))
    assert (d.status.phase, d.status.reason) == (Phase.FAILED, Reason.NON_RETRYABLE)
    record = d.status.history[0]
    assert (record.reason, record.exit_code, record.rule) == (
        "NonRetryable", 2, "retries.rules[0]")
    assert not [a for a in d.actions if isinstance(a, CreateJob)]
    assert any(getattr(a, "type", "") == "Warning" for a in d.actions)


def test_an_ignored_failure_is_retried_at_once_without_using_up_a_retry() -> None:
    t = task(retries={"limit": 0})
    first = decide(t, [], T0)
    evicted = job(1, "Failed", failed_pods=(FailedPod((ContainerEnd("a", 137),), True),))
    d = decide(evolve(t, first.status), [evicted], T0 + timedelta(seconds=6))
    assert d.status.history[0].reason == Reason.DISRUPTED and not d.status.history[0].counted
    assert created(d.actions).attempt == 2 and d.status.phase == Phase.IN_PROGRESS


def test_ignored_attempts_are_bounded() -> None:
    t = task(retries={"limit": 0})
    status = decide(t, [], T0).status
    jobs = []
    for attempt in range(1, 13):
        jobs.append(job(attempt, "Failed",
                        failed_pods=(FailedPod((ContainerEnd("a", 137),), True),)))
        status = decide(evolve(t, status), jobs, T0 + timedelta(seconds=attempt * 10)).status
        if status.phase == Phase.FAILED:
            break
    assert status.phase == Phase.FAILED and status.attempts == 11  # 10 ignored, then counted


def test_an_oom_kill_retries_with_memory_raised_up_to_the_cap() -> None:
    template = {"spec": {"containers": [{"name": "a", "image": "x", "resources": {
        "requests": {"memory": "32Mi"}, "limits": {"memory": "64Mi"}}}]}}
    spec = {"template": template, "retries": {"limit": 3, "delay": 0, "rules": [
        {"onOOMKilled": True, "action": "Retry",
         "raiseMemory": {"factor": 2, "max": "200Mi"}}]}}
    t = replace(task(), spec=AgentTaskSpec.model_validate(spec))
    first = decide(t, [], T0)
    assert created(first.actions).memory == {}
    oom = job(1, "Failed", memory=(("a", "64Mi"),),
              failed_pods=(FailedPod((ContainerEnd("a", 137, "OOMKilled"),)),))
    after = decide(evolve(t, first.status), [oom], T0 + timedelta(seconds=6))
    record = after.status.history[0]
    assert (record.reason, record.rule, record.memory) == ("OOMKilled", "retries.rules[0]",
                                                          {"a": "64Mi"})
    retry = created(after.actions)  # due at once (delay 0)
    assert retry.attempt == 2 and retry.memory == {"a": {"limits": "128Mi", "requests": "64Mi"}}
    assert raised_memory(template, t.spec.retries.rules[0] if t.spec else None, 3) == {
        "a": {"limits": "200Mi", "requests": "200Mi"}}  # 512Mi and 256Mi, capped


def test_memory_quantities() -> None:
    assert memory_bytes("64Mi") == 64 * 2**20 and memory_bytes("1G") == 10**9
    assert memory_bytes("1.5Gi") == 3 * 2**29 and memory_bytes("1e3") is None
    assert format_memory(2**30) == "1Gi" and format_memory(3 * 2**29) == "1536Mi"
    assert format_memory(1000) == "1000" and format_memory(10**9) == "976563Ki"
