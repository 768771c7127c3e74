"""The start check (spec.startTimeout): why a pod has not started, when it is looked at,
and how a stuck attempt fails, over plain facts and an explicit clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from agenttasks.api.task import AgentTaskSpec, AgentTaskStatus, AttemptRecord, Phase
from agenttasks.core.actions import CreateJob, DeleteJob, Emit
from agenttasks.core.facts import CreateRefusal, JobFacts, PodStart, StartFacts, TaskFacts
from agenttasks.core.lifecycle import decide, settled
from agenttasks.core.start_check import needs_look, next_look, trouble
from agenttasks.manifests.start_facts import pod_start, start_facts

T0 = datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)
TEMPLATE = {"spec": {"containers": [{"name": "a", "image": "busybox"}]}}
SCHEDULER = ("0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. "
             "preemption: 0/1 nodes are available: 1 Preemption is not helpful for "
             "scheduling.")
PSA = ('Error creating: pods "t-1-abcde" is forbidden: violates PodSecurity '
       '"restricted:latest": privileged (container "a" must not set '
       'securityContext.privileged=true)')


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def spec(**fields: Any) -> AgentTaskSpec:
    return AgentTaskSpec.model_validate({"template": TEMPLATE, **fields})


def task(status: AgentTaskStatus | None = None, **fields: Any) -> TaskFacts:
    return TaskFacts(namespace="ns", name="t", uid="uid-1", generation=1, created=T0,
                     spec=spec(**fields), status=status or running_status())


def running_status(attempt: int = 1, **fields: Any) -> AgentTaskStatus:
    return AgentTaskStatus(phase=Phase.IN_PROGRESS, reason="Running", attempts=attempt,
                           job_name=f"t-{attempt}", start_time=T0,
                           message=f"attempt {attempt} of 1 is running in Job t-{attempt}",
                           **fields)


def job(attempt: int = 1, start: StartFacts | None = None, **fields: Any) -> JobFacts:
    given: dict[str, Any] = {"uid": f"job-uid-{attempt}", "active": 1, "started_at": T0,
                             **fields}
    return JobFacts(name=f"t-{attempt}", attempt=attempt, created=T0, owner_uid="uid-1",
                    start=start, **given)


def unschedulable(name: str = "t-1-abcde") -> PodStart:
    return PodStart(name=name, created=T0, unscheduled=("Unschedulable", SCHEDULER))


def pulling(reason: str, message: str = 'Back-off pulling image "busybox:nope"') -> PodStart:
    return PodStart(name="t-1-abcde", created=T0, waiting=(("a", reason, message),))


def facts(*pods: PodStart, refusals: tuple[CreateRefusal, ...] = ()) -> StartFacts:
    return StartFacts(pods=pods, refusals=refusals)


def after(decision_status: AgentTaskStatus, t: TaskFacts) -> TaskFacts:
    return replace(t, status=decision_status)


# --- why: each reason from the pods' and the Job's own words -------------------------------

def test_an_unschedulable_pod_quotes_the_scheduler() -> None:
    found = trouble(facts(unschedulable()))
    assert found is not None and found.reason == "Unschedulable"
    assert found.words == f"pod t-1-abcde cannot be scheduled: {SCHEDULER}"


def test_each_image_pull_reason_is_image_pull_failed_and_quotes_the_kubelet() -> None:
    for reason in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName"):
        found = trouble(facts(pulling(reason, "failed to pull image")))
        assert found is not None and found.reason == "ImagePullFailed"
        assert found.words == ("container a of pod t-1-abcde cannot pull its image: "
                               f"{reason}: failed to pull image")


def test_a_refused_pod_create_quotes_the_jobs_event() -> None:
    found = trouble(facts(refusals=(CreateRefusal(PSA, s(3)),)))
    assert found is not None and found.reason == "PodCreateRefused"
    assert found.words == f"the Job controller cannot create its pods: {PSA}"


def test_the_newest_refusal_is_quoted() -> None:
    found = trouble(facts(refusals=(CreateRefusal("exceeded quota: old", s(2)),
                                    CreateRefusal("exceeded quota: new", s(9)),
                                    CreateRefusal("no time", None))))
    assert found is not None and found.words.endswith("exceeded quota: new")


def test_a_refusal_before_the_newest_pod_was_created_no_longer_counts() -> None:
    pod = PodStart(name="t-1-later", created=s(10))
    assert trouble(facts(pod, refusals=(CreateRefusal(PSA, s(5)),))) is None


def test_the_pods_own_words_come_before_the_jobs() -> None:
    found = trouble(facts(pulling("ErrImagePull"), unschedulable(),
                          refusals=(CreateRefusal(PSA, None),)))
    assert found is not None and found.reason == "Unschedulable"


def test_pods_that_give_no_known_reason_give_no_trouble() -> None:
    assert trouble(facts(PodStart(name="p", created=T0))) is None
    assert trouble(facts(PodStart(name="p", waiting=(("a", "ContainerCreating", ""),)))) \
        is None


# --- while it waits, without a start timeout ------------------------------------------------

def test_the_waiting_reason_and_message_appear_while_in_progress() -> None:
    t = task()
    d = decide(t, [job(start=facts(unschedulable()))], s(6))
    assert d.status.phase == Phase.IN_PROGRESS and d.status.reason == "Unschedulable"
    assert d.status.message == ("attempt 1 of 1 in Job t-1 has not started: pod t-1-abcde "
                                f"cannot be scheduled: {SCHEDULER}")
    assert d.status.history == []
    assert not [a for a in d.actions if isinstance(a, DeleteJob)]
    assert d.wake_at == s(10)  # the next look
    # A person must look: a Warning Event, once, as the task enters the reason.
    assert Emit("Warning", "Unschedulable", d.status.message) in d.actions
    again = decide(after(d.status, t), [job(start=facts(unschedulable()))], s(10))
    assert again.status == d.status and not [a for a in again.actions if isinstance(a, Emit)]


def test_a_pass_that_did_not_look_keeps_what_status_shows() -> None:
    t = task()
    shown = decide(t, [job(start=facts(pulling("ErrImagePull")))], s(6)).status
    d = decide(after(shown, t), [job()], s(8))  # a Job event's pass: no look was due
    assert (d.status.reason, d.status.message) == (shown.reason, shown.message)
    assert d.wake_at == s(10)


def test_the_reason_goes_back_to_running_when_the_pod_starts() -> None:
    t = task()
    shown = decide(t, [job(start=facts(unschedulable()))], s(6)).status
    d = decide(after(shown, t), [job(ready=1)], s(30))
    assert (d.status.phase, d.status.reason) == (Phase.IN_PROGRESS, "Running")
    assert d.status.message == "attempt 1 of 1 is running in Job t-1"
    assert d.wake_at is None


def test_without_a_start_timeout_a_stuck_attempt_waits_for_ever() -> None:
    d = decide(task(), [job(start=facts(unschedulable()))], s(86_400))
    assert d.status.phase == Phase.IN_PROGRESS and d.status.history == []
    assert d.wake_at is not None and d.wake_at - s(86_400) <= timedelta(seconds=30)


# --- the start timeout ----------------------------------------------------------------------

def test_before_the_start_timeout_the_attempt_waits() -> None:
    d = decide(task(startTimeout="30s"), [job(start=facts(unschedulable()))], s(29))
    assert d.status.phase == Phase.IN_PROGRESS and d.status.reason == "Unschedulable"
    assert d.status.history == [] and d.wake_at == s(30)


def test_at_the_start_timeout_the_attempt_fails_with_its_reason() -> None:
    t = task(startTimeout="30s")
    d = decide(t, [job(start=facts(unschedulable()))], s(30))
    record = d.status.history[-1]
    assert (record.attempt, record.result, record.reason) == (1, "Failed", "Unschedulable")
    assert record.message == ("no pod of attempt 1 ran within spec.startTimeout (30s): "
                              f"pod t-1-abcde cannot be scheduled: {SCHEDULER}")
    assert (record.start_time, record.completion_time) == (T0, s(30))
    # No retries left: the task fails with the reason, and the message quotes the pod.
    assert (d.status.phase, d.status.reason) == (Phase.FAILED, "Unschedulable")
    assert SCHEDULER in (d.status.message or "")
    assert [c.type for c in d.status.conditions if c.status == "True"] == ["Failed", "Stalled"]


def test_each_reason_reaches_the_record() -> None:
    cases = {"ImagePullFailed": facts(pulling("ImagePullBackOff")),
             "PodCreateRefused": facts(refusals=(CreateRefusal(PSA, s(1)),)),
             "StartTimedOut": facts(PodStart(name="t-1-abcde", created=T0))}
    for reason, found in cases.items():
        d = decide(task(startTimeout=10), [job(start=found)], s(10))
        assert d.status.history[-1].reason == reason, reason
        assert d.status.reason == reason
    assert "PodSecurity" in decide(task(startTimeout=10), [
        job(start=cases["PodCreateRefused"])], s(10)).status.history[-1].message


def test_start_timed_out_says_the_pods_gave_no_reason_or_quotes_what_they_said() -> None:
    silent = decide(task(startTimeout=10), [job(start=facts())], s(10)).status.history[-1]
    assert silent.message == ("no pod of attempt 1 ran within spec.startTimeout (10s), and "
                              "its pods gave no reason")
    config = PodStart(name="t-1-abcde", waiting=(
        ("a", "CreateContainerConfigError", 'secret "keys" not found'),))
    said = decide(task(startTimeout=10), [job(start=facts(config))], s(10)).status
    assert said.history[-1].reason == "StartTimedOut"
    assert said.history[-1].message.endswith(
        'container a of pod t-1-abcde waits: CreateContainerConfigError: secret "keys" '
        "not found")


def test_only_fresh_facts_fail_an_attempt() -> None:
    d = decide(task(startTimeout=10), [job()], s(12))  # not looked at on this pass
    assert d.status.phase == Phase.IN_PROGRESS and d.status.history == []
    assert d.wake_at is not None and d.wake_at > s(12)


def test_the_timeout_counts_from_the_jobs_start_time_after_a_resume() -> None:
    resumed = job(start=facts(unschedulable()), started_at=s(100))
    d = decide(task(startTimeout=30), [resumed], s(120))
    assert d.status.phase == Phase.IN_PROGRESS and d.wake_at == s(130)  # its timeout
    assert decide(task(startTimeout=30), [resumed], s(130)).status.history[-1].reason == \
        "Unschedulable"


def test_a_stuck_attempt_is_retried_under_the_retry_rules() -> None:
    t = task(startTimeout="20s", retries={"limit": 1, "delay": "5s"})
    first = decide(t, [job(start=facts(unschedulable()))], s(20))
    assert (first.status.phase, first.status.reason) == (Phase.FAILED, "RetryScheduled")
    assert first.status.next_retry_time == s(25)
    assert "Unschedulable" in (first.status.message or "")
    assert first.status.history[-1].reason == "Unschedulable"


# --- crash safety: the record is durable before the Job is deleted -------------------------

def test_the_pass_that_fails_it_only_writes_the_record_and_wakes_at_once() -> None:
    t = task(startTimeout="20s", retries={"limit": 1, "delay": 0})
    first = decide(t, [job(start=facts(unschedulable()))], s(20))
    assert not [a for a in first.actions if isinstance(a, DeleteJob | CreateJob)]
    assert first.status.history[-1].reason == "Unschedulable"
    assert first.wake_at == s(20)
    # The next pass (the record is in status now) deletes the Job and starts the due retry.
    second = decide(after(first.status, t), [job()], s(20))
    assert DeleteJob("t-1") in second.actions and CreateJob(2, "t-2") in second.actions
    assert len([a for a in second.actions if isinstance(a, DeleteJob)]) == 1
    assert [r.attempt for r in second.status.history] == [1]


def test_a_restart_before_the_record_is_written_decides_again_from_the_pods() -> None:
    t = task(startTimeout="20s", retries={"limit": 1})
    d = decide(t, [job(start=facts(unschedulable()))], s(50))  # the first pass after it
    assert [r.attempt for r in d.status.history] == [1]
    assert not [a for a in d.actions if isinstance(a, DeleteJob)]


def test_a_restart_after_the_record_stops_the_job_and_never_counts_it_twice() -> None:
    t = task(startTimeout="20s", retries={"limit": 2})
    first = decide(t, [job(start=facts(unschedulable()))], s(20))
    later = after(first.status, t)
    running = decide(later, [job(start=facts(unschedulable()))], s(21))
    assert DeleteJob("t-1") in running.actions
    assert running.status == first.status.model_copy(update={"conditions":
                                                             running.status.conditions})
    deleting = decide(later, [job(deleting=True)], s(22))
    assert not [a for a in deleting.actions if isinstance(a, DeleteJob)]
    gone = decide(later, [], s(23))  # the Job is gone: its record stands, no JobDeleted
    assert [(r.attempt, r.reason) for r in gone.status.history] == [(1, "Unschedulable")]
    assert gone.status.reason == "RetryScheduled"


def test_a_terminal_task_stops_its_stuck_job_once() -> None:
    t = task(startTimeout="20s")
    first = decide(t, [job(start=facts(unschedulable()))], s(20))
    assert first.status.terminal() and not [a for a in first.actions
                                            if isinstance(a, DeleteJob)]
    final = decide(after(first.status, t), [job()], s(20))
    assert [a for a in final.actions if isinstance(a, DeleteJob)] == [DeleteJob("t-1")]


def test_a_terminal_task_with_its_stuck_job_running_is_not_settled() -> None:
    from agenttasks.core.facts import summarize

    t = task(startTimeout="20s")
    first = decide(t, [job(start=facts(unschedulable()))], s(20))
    assert not settled(summarize(after(first.status, t)), [job()])


# --- started attempts are never flagged -----------------------------------------------------

def test_started_attempts_are_never_flagged() -> None:
    stuck = facts(unschedulable("t-1-other"))
    ran = PodStart(name="t-1-abcde", ran=True)
    for started in (job(ready=1, start=stuck), job(succeeded=1, start=stuck),
                    job(start=facts(ran, unschedulable("t-1-other")))):
        d = decide(task(startTimeout=10), [started], s(600))
        assert (d.status.phase, d.status.reason) == (Phase.IN_PROGRESS, "Running")
        assert d.status.history == [] and d.wake_at is None


def test_suspended_paused_or_deleted_jobs_are_not_checked() -> None:
    stuck = facts(unschedulable())
    paused = decide(task(startTimeout=10, paused=True), [job(start=stuck)], s(60))
    assert paused.status.phase == Phase.PAUSED and paused.status.history == []
    queued = decide(task(startTimeout=10), [job(start=stuck, suspended=True)], s(60))
    assert queued.status.history == []
    deleting = decide(task(startTimeout=10), [job(start=stuck, deleting=True)], s(60))
    assert deleting.status.history == [] and deleting.status.reason == "Running"


# --- when the shell looks ---------------------------------------------------------------------

def test_looks_come_at_5_10_20_40_then_every_30_seconds() -> None:
    j, moments, at = job(), [], T0
    for _ in range(7):
        at = next_look(j, at, None)
        moments.append(int((at - T0).total_seconds()))
    assert moments == [5, 10, 20, 40, 70, 100, 130]
    assert next_look(j, s(86_400 + 1), None) - s(86_400 + 1) <= timedelta(seconds=30)


def test_the_start_timeout_is_a_look() -> None:
    assert next_look(job(), s(10), timedelta(seconds=15)) == s(15)
    assert next_look(job(), s(15), timedelta(seconds=15)) == s(20)
    assert next_look(job(), T0, timedelta(seconds=2)) == s(2)


def test_a_look_is_due_on_the_schedule_only() -> None:
    status, sp, j = running_status(), spec(), job()
    assert not needs_look(status, sp, j, None, s(4))
    assert needs_look(status, sp, j, None, s(5))
    assert not needs_look(status, sp, j, s(5), s(9))
    assert needs_look(status, sp, j, s(5), s(10))
    assert not needs_look(status, sp, j, s(41), s(69))
    assert needs_look(status, sp, j, s(41), s(70))
    assert needs_look(status, sp, j, s(-100), s(5)), "a look before this Job's clock is stale"


def test_after_the_start_timeout_every_pass_looks() -> None:
    sp = spec(startTimeout=10)
    assert needs_look(running_status(), sp, job(), s(10.5), s(11))


def test_no_look_at_an_attempt_that_started_or_cannot_start() -> None:
    status, sp = running_status(), spec(startTimeout=10)
    for j in (job(ready=1), job(succeeded=1), job(suspended=True), job(deleting=True),
              job(outcome="Failed"), job(uid=None)):
        assert not needs_look(status, sp, j, None, s(60)), j
    assert not needs_look(status, spec(paused=True), job(), None, s(60))
    recorded = running_status(history=[AttemptRecord(
        attempt=1, job_name="t-1", result="Failed", reason="Unschedulable")])
    assert not needs_look(recorded, sp, job(), None, s(60))
    failed = AgentTaskStatus(phase=Phase.FAILED, reason="JobFailed", attempts=1)
    assert not needs_look(failed, sp, job(), None, s(60))


# --- the facts, from the pods and Events the shell reads -------------------------------------

def _pod(name: str, owner: str | None = "job-uid-1", **status: Any) -> dict[str, Any]:
    refs = [] if owner is None else [{"kind": "Job", "uid": owner, "controller": True}]
    return {"metadata": {"name": name, "creationTimestamp": "2026-11-25T08:00:01Z",
                         "ownerReferences": refs}, "status": status}


def test_a_pending_unscheduled_pod() -> None:
    pod = pod_start(_pod("p", phase="Pending", conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": SCHEDULER}]))
    assert pod == PodStart(name="p", created=s(1), ran=False,
                           unscheduled=("Unschedulable", SCHEDULER))


def test_a_pod_whose_image_cannot_be_pulled() -> None:
    pod = pod_start(_pod("p", phase="Pending", containerStatuses=[
        {"name": "a", "state": {"waiting": {"reason": "ErrImagePull",
                                            "message": "not found"}}}]))
    assert pod.waiting == (("a", "ErrImagePull", "not found"),) and not pod.ran


def test_a_pod_ran_when_a_container_runs_or_ran() -> None:
    running = {"name": "a", "state": {"running": {"startedAt": "2026-11-25T08:00:02Z"}}}
    restarted = {"name": "a", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"exitCode": 1}}}
    assert pod_start(_pod("p", phase="Running", containerStatuses=[running])).ran
    assert pod_start(_pod("p", phase="Pending", initContainerStatuses=[running])).ran
    assert pod_start(_pod("p", phase="Running", containerStatuses=[restarted])).ran
    assert pod_start(_pod("p", phase="Succeeded")).ran
    assert not pod_start(_pod("p", phase="Pending")).ran


def test_only_the_jobs_own_pods_and_failed_create_events_count() -> None:
    event = {"involvedObject": {"uid": "job-uid-1"}, "reason": "FailedCreate",
             "message": PSA, "lastTimestamp": "2026-11-25T08:00:03Z"}
    found = start_facts("job-uid-1", [
        _pod("mine"), _pod("forged", owner="someone-else"), _pod("unowned", owner=None)],
        [event, {**event, "reason": "SuccessfulCreate"},
         {**event, "involvedObject": {"uid": "other"}}])
    assert [p.name for p in found.pods] == ["mine"]
    assert found.refusals == (CreateRefusal(PSA, s(3)),)


def test_an_event_series_is_seen_last_at_its_last_observation() -> None:
    event = {"involvedObject": {"uid": "u"}, "reason": "FailedCreate", "message": "m",
             "eventTime": "2026-11-25T08:00:01.000000Z",
             "series": {"count": 4, "lastObservedTime": "2026-11-25T08:00:09.500000Z"}}
    assert start_facts("u", [], [event]).refusals[0].last_seen == s(9.5)


def test_long_messages_are_cut() -> None:
    pod = pod_start(_pod("p", conditions=[{"type": "PodScheduled", "status": "False",
                                           "reason": "Unschedulable", "message": "x" * 5000}]))
    assert pod.unscheduled is not None and len(pod.unscheduled[1]) == 1024


def test_a_job_counting_a_pod_that_just_ended_is_not_looked_at() -> None:
    """Seen on the local control plane: an 8 s pod has ended, and until the Job controller
    counts it the Job shows no ready and no succeeded pod. It ran; nothing is read."""
    from agenttasks.manifests.jobs import job_facts

    body = {"metadata": {"name": "t-1", "uid": "job-uid-1", "labels": {
        "agenttasks.io/attempt": "1"}, "creationTimestamp": "2026-11-25T08:00:00Z"},
        "status": {"startTime": "2026-11-25T08:00:00Z", "ready": 0, "terminating": 0,
                   "uncountedTerminatedPods": {"succeeded": ["pod-uid"]}}}
    counting = job_facts(body)
    assert counting is not None and counting.finishing
    assert not needs_look(running_status(), spec(), counting, None, s(10))
    met = job_facts({**body, "status": {"conditions": [
        {"type": "SuccessCriteriaMet", "status": "True"}]}})
    assert met is not None and met.finishing
    failing = job_facts({**body, "status": {"conditions": [
        {"type": "FailureTarget", "status": "True"}]}})
    assert failing is not None and failing.finishing
    plain = job_facts({**body, "status": {"active": 1, "ready": 0}})
    assert plain is not None and not plain.finishing
    assert needs_look(running_status(), spec(), plain, None, s(10))
    d = decide(task(startTimeout=5), [replace(counting, start=facts())], s(30))
    assert d.status.reason == "Running" and d.status.history == []


def test_events_are_needed_only_when_the_pods_say_nothing() -> None:
    from agenttasks.core.start_check import needs_events

    assert needs_events(facts())
    assert needs_events(facts(PodStart(name="p", created=T0)))
    assert not needs_events(facts(unschedulable()))
    assert not needs_events(facts(pulling("ErrImagePull")))
    assert not needs_events(facts(PodStart(name="p", ran=True)))


def test_the_pass_that_ends_the_task_wakes_at_once_even_with_a_ttl() -> None:
    t = task(startTimeout="20s", ttlAfterFinished="1h")
    first = decide(t, [job(start=facts(unschedulable()))], s(20))
    assert first.status.terminal() and first.wake_at == s(20)
    final = decide(after(first.status, t), [job()], s(20))
    assert DeleteJob("t-1") in final.actions and final.wake_at == s(20 + 3600)


def test_a_stuck_batch_attempt_records_the_items_it_was_to_run() -> None:
    t = task(startTimeout=10, completions=4, parallelism=2, retries={"limit": 1})
    stuck = job(start=facts(unschedulable()), items="0-3", completions=4)
    d = decide(t, [stuck], s(10))
    record = d.status.history[-1]
    assert record.reason == "Unschedulable" and record.items is not None
    assert (record.items.ran, record.items.succeeded) == ("0-3", "")
