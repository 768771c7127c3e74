"""The slot ledger (core/slots.py): the sequences that over-admitted, and properties over
random event sequences with restarts, relists and a watch that lags behind the API server."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from agenttasks.core.facts import JobFacts
from agenttasks.core.queue import Candidate, Limits, order_key
from agenttasks.core.slots import SlotLedger, holds_slot

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NS = "team"


def job(name: str, **fields: object) -> JobFacts:
    return replace(JobFacts(name=name, attempt=1, created=NOW), **fields)  # type: ignore[arg-type]


def candidate(name: str, priority: int = 0, namespace: str = NS, age: int = 0) -> Candidate:
    created = NOW - timedelta(seconds=age)
    return Candidate(namespace, name, priority, created, created)


def started_ledger(limit: int, tasks: tuple[str, ...] = ()) -> SlotLedger:
    ledger = SlotLedger(Limits(max_running=limit))
    ledger.jobs_listed()
    ledger.tasks_listed([(NS, t) for t in tasks])
    for t in tasks:
        ledger.seen((NS, t))
    return ledger


# --- what holds a slot ---------------------------------------------------------------------

def test_a_job_holds_a_slot_until_it_finishes() -> None:
    assert holds_slot(job("a"))
    assert holds_slot(job("a", deleting=True)), "being deleted: its pods may still run"
    assert not holds_slot(job("a", outcome="Complete"))
    assert not holds_slot(job("a", outcome="Failed", deleting=True))


def test_a_suspended_job_holds_its_slot_until_its_pods_are_gone() -> None:
    assert holds_slot(job("a", suspended=True, active=1))
    assert holds_slot(job("a", suspended=True, terminating=1))
    assert not holds_slot(job("a", suspended=True))


# --- the sequences that broke the old dispatcher --------------------------------------------

def test_a_reconcile_between_the_create_and_its_watch_event_keeps_the_slot() -> None:
    """The cause of the short chaos run's overruns (9 or 10 Jobs with --max-running 8, 2 of 3
    runs at 68f6b76; found by replaying random event sequences against the old dispatcher):
    a task is granted and its Job created; before the Job's watch event arrives (the Job
    watch lags after an API server restart, or under throttling) the task is reconciled
    again, sees its Job by a GET, is InProgress and no longer wants a slot. The old
    dispatcher then gave the grant back, so another task started beside the running Job."""
    ledger = started_ledger(1, ("a", "b"))
    ledger.want(candidate("a"))
    assert ledger.grant(NOW) == [(NS, "a")]
    ledger.sent((NS, "a"), "a-1")  # create_job succeeded; the watch has not shown a-1 yet
    ledger.withdraw((NS, "a"))  # the next reconcile: InProgress, wants no slot
    ledger.want(candidate("b"))
    assert ledger.grant(NOW) == [], "a-1 runs: the only slot is taken"
    ledger.job(NS, "a", job("a-1"))  # the watch catches up: a-1 holds the slot itself
    assert not ledger.has_grant((NS, "a")) and ledger.running().total == 1
    assert ledger.grant(NOW) == []
    ledger.job(NS, "a", job("a-1", outcome="Complete"))
    assert ledger.grant(NOW) == [(NS, "b")]


def test_a_grant_whose_create_was_sent_is_kept_when_the_task_changes_its_mind() -> None:
    """The old dispatcher gave the slot back on withdraw, although the create had been sent
    and its Job was not visible yet: a cancel (or a status write that failed, then a
    reconcile that saw no Job) let the next task start beside a Job that was running."""
    ledger = started_ledger(1)
    ledger.want(candidate("a"))
    assert ledger.grant(NOW) == [(NS, "a")]
    ledger.sent((NS, "a"), "a-1")
    ledger.withdraw((NS, "a"))  # cancelled before the watch showed a-1
    ledger.want(candidate("b"))
    assert ledger.grant(NOW) == [], "a-1 may be running: its slot is still taken"
    ledger.job(NS, "a", job("a-1"))  # there it is
    assert ledger.grant(NOW) == []
    ledger.job(NS, "a", job("a-1", deleting=True))
    assert ledger.grant(NOW) == [], "its pods are still stopping"
    ledger.job_gone(NS, "a-1")
    assert ledger.grant(NOW) == [(NS, "b")]


def test_each_job_counts_not_each_task() -> None:
    """A retry whose previous attempt's Job is still stopping takes a second slot; the old
    dispatcher counted only the latest attempt of each task."""
    ledger = started_ledger(2)
    ledger.job(NS, "a", job("a-1", deleting=True))  # attempt 1 timed out, pods stopping
    ledger.want(candidate("a"))
    assert ledger.grant(NOW) == [(NS, "a")]
    ledger.sent((NS, "a"), "a-2")
    ledger.job(NS, "a", job("a-2", attempt=2))
    ledger.want(candidate("b"))
    assert ledger.grant(NOW) == [], "a-1 and a-2 both hold a slot"
    assert ledger.running().total == 2


def test_no_grant_before_the_jobs_that_exist_are_known() -> None:
    """Start-up and takeover: nothing is granted until the Job listing is complete, so the
    Jobs a previous process (or the previous active replica) started are counted first."""
    ledger = SlotLedger(Limits(max_running=1))
    ledger.tasks_listed([(NS, "b")])
    ledger.want(candidate("b"))
    ledger.seen((NS, "b"))
    assert ledger.grant(NOW) == []
    ledger.job(NS, "a", job("a-1"))
    ledger.jobs_listed()
    assert ledger.grant(NOW) == [], "a-1 holds the only slot"


def test_no_grant_before_every_listed_task_was_looked_at() -> None:
    ledger = SlotLedger(Limits(max_running=1))
    ledger.jobs_listed()
    ledger.tasks_listed([(NS, "low"), (NS, "high")])
    ledger.want(candidate("low", priority=0))
    ledger.seen((NS, "low"))
    assert ledger.grant(NOW) == []
    ledger.want(candidate("high", priority=10))
    ledger.seen((NS, "high"))
    assert ledger.grant(NOW) == [(NS, "high")]


def test_a_stale_event_of_a_suspended_job_does_not_end_the_grant_of_its_resume() -> None:
    ledger = started_ledger(1)
    ledger.job(NS, "a", job("a-1", suspended=True))  # paused: no slot
    ledger.want(candidate("a"))
    assert ledger.grant(NOW) == [(NS, "a")]
    ledger.sent((NS, "a"), "a-1")  # resume sent
    ledger.job(NS, "a", job("a-1", suspended=True))  # an event from before the resume
    assert ledger.has_grant((NS, "a"))
    ledger.want(candidate("b"))
    assert ledger.grant(NOW) == []
    ledger.job(NS, "a", job("a-1"))
    assert not ledger.has_grant((NS, "a")) and ledger.running().total == 1


def test_a_job_seen_before_its_create_returned_ends_the_grant() -> None:
    ledger = started_ledger(1)
    ledger.want(candidate("a"))
    ledger.grant(NOW)
    ledger.job(NS, "a", job("a-1"))  # the watch was faster than the create's answer
    ledger.sent((NS, "a"), "a-1")
    assert not ledger.has_grant((NS, "a")) and ledger.running().total == 1


def test_takeover_drops_grants_made_before_a_pause_but_keeps_those_sent() -> None:
    ledger = started_ledger(2)
    ledger.want(candidate("a"))
    ledger.want(candidate("b"))
    assert len(ledger.grant(NOW)) == 2
    ledger.sent((NS, "a"), "a-1")
    # paused; the other replica fills the free slot meanwhile
    ledger.job(NS, "c", job("c-1"))
    ledger.drop_unsent()
    assert ledger.has_grant((NS, "a")) and not ledger.has_grant((NS, "b"))
    ledger.want(candidate("b"))
    assert ledger.grant(NOW) == [], "a-1 (maybe running) and c-1 hold both slots"


def test_a_refused_create_gives_the_slot_back() -> None:
    ledger = started_ledger(1)
    ledger.want(candidate("a"))
    ledger.grant(NOW)
    ledger.sent((NS, "a"), "a-1")
    ledger.release((NS, "a"))
    ledger.want(candidate("b"))
    assert ledger.grant(NOW) == [(NS, "b")]


def test_an_old_attempts_event_does_not_end_a_new_grant() -> None:
    ledger = started_ledger(1)
    ledger.job(NS, "a", job("a-1", outcome="Failed"))
    ledger.want(candidate("a"))
    ledger.grant(NOW)
    ledger.sent((NS, "a"), "a-2")
    ledger.job_gone(NS, "a-1")  # clean-up of the old attempt
    assert ledger.has_grant((NS, "a"))


def test_per_namespace_limit() -> None:
    ledger = SlotLedger(Limits(max_running=10, max_running_per_namespace=1))
    ledger.jobs_listed()
    ledger.tasks_listed([])
    ledger.want(candidate("a1", namespace="a"))
    ledger.want(candidate("a2", namespace="a", age=5))
    ledger.want(candidate("b1", namespace="b"))
    assert sorted(ledger.grant(NOW)) == [("a", "a2"), ("b", "b1")]


# --- properties over random sequences ---------------------------------------------------------

@dataclass
class Cluster:
    """The API server's truth, and the watch events the ledger has not been told yet."""

    jobs: dict[str, JobFacts] = field(default_factory=dict)  # Job name → facts
    task_of: dict[str, str] = field(default_factory=dict)
    pending: list[tuple[str, str]] = field(default_factory=list)  # (job name, "put"/"gone")

    def holding(self) -> int:
        return sum(holds_slot(j) for j in self.jobs.values())

    def put(self, task: str, facts: JobFacts) -> None:
        self.jobs[facts.name], self.task_of[facts.name] = facts, task
        self.pending.append((facts.name, "put"))

    def remove(self, name: str) -> None:
        if self.jobs.pop(name, None) is not None:
            self.pending.append((name, "gone"))

    def deliver(self, ledger: SlotLedger, count: int) -> None:
        for name, kind in self.pending[:count]:
            if kind == "gone":
                ledger.job_gone(NS, name)
            elif name in self.jobs:
                ledger.job(NS, self.task_of[name], self.jobs[name])
        del self.pending[:count]

    def relist(self, ledger: SlotLedger, known: set[str]) -> None:
        """A re-list after 410: every Job as it is now, the vanished ones as gone."""
        self.pending.clear()
        for name, facts in self.jobs.items():
            ledger.job(NS, self.task_of[name], facts)
        for name in known - set(self.jobs):
            ledger.job_gone(NS, name)


def _recount(ledger: SlotLedger) -> dict[str, int]:
    """Slots in use counted from scratch, against the ledger's running counts."""
    by_ns: dict[str, int] = {}
    for (namespace, _), state in ledger._jobs.items():
        by_ns[namespace] = by_ns.get(namespace, 0) + state.holds
    for namespace, _ in ledger._grants:
        by_ns[namespace] = by_ns.get(namespace, 0) + 1
    return {k: v for k, v in by_ns.items() if v}


TASKS = [f"t{i}" for i in range(4)]
steps = st.lists(st.tuples(st.sampled_from(
    ["reconcile", "reconcile-lost", "refuse", "withdraw", "finish", "delete", "gone", "suspend",
     "deliver", "relist", "restart"]), st.integers(0, 7)), min_size=5, max_size=60)


def _pick(options: list[str], n: int) -> str | None:
    return sorted(options)[n % len(options)] if options else None


@settings(max_examples=400, deadline=None)
@given(steps=steps, limit=st.integers(1, 3), priorities=st.lists(
    st.integers(-2, 2), min_size=len(TASKS), max_size=len(TASKS)))
def test_the_limit_holds_at_every_instant(steps: list[tuple[str, int]], limit: int,
                                          priorities: list[int]) -> None:
    """Whatever the order of events, the Jobs that hold a slot on the API server never
    outnumber the limit: grants count until their Job is seen, a relist reports what
    vanished, and a restarted ledger counts every Job before it grants. At the end, once
    every Job has finished and been seen, no slot stays taken (nothing leaks)."""
    cluster = Cluster()
    attempts = dict.fromkeys(TASKS, 0)
    priority = dict(zip(TASKS, priorities, strict=True))
    ledger = started_ledger(limit, tuple(TASKS))

    def granted() -> list[str]:
        return [t for t in TASKS if ledger.has_grant((NS, t))]

    for action, n in steps:
        live = [name for name in cluster.jobs if not cluster.jobs[name].finished]
        if action in ("reconcile", "reconcile-lost"):
            # A task asks for a slot; every grant made is acted on at once: a create sent,
            # whose answer may be lost (the Job may or may not exist then).
            task = TASKS[n % len(TASKS)]
            ledger.want(candidate(task, priority[task]))
            for _, granted_task in ledger.grant(NOW):
                attempts[granted_task] += 1
                name = f"{granted_task}-{attempts[granted_task]}"
                ledger.sent((NS, granted_task), name)
                if action == "reconcile" or n % 2:
                    cluster.put(granted_task, JobFacts(name=name, attempt=attempts[granted_task],
                                                       created=NOW))
        elif action == "refuse":
            # The shell gives a grant back only when it knows no Job exists under it.
            task = _pick([t for t in granted() if ledger.awaited_job((NS, t)) not in
                          cluster.jobs], n)
            if task is not None:
                ledger.release((NS, task))
        elif action == "withdraw":
            task = _pick(granted() + [c.name for c in ledger.waiting()], n)
            if task is not None:
                ledger.withdraw((NS, task))
        elif action in ("finish", "delete", "gone", "suspend"):
            name = _pick(live, n)
            if name is None:
                pass
            elif action == "gone":
                cluster.remove(name)
            else:
                change = {"finish": {"outcome": "Complete"}, "delete": {"deleting": True},
                          "suspend": {"suspended": True, "active": 0}}[action]
                cluster.put(cluster.task_of[name], replace(cluster.jobs[name], **change))
        elif action == "deliver":
            cluster.deliver(ledger, n + 1)
        elif action == "relist":
            cluster.relist(ledger, set(cluster.task_of))
        elif action == "restart":
            # A new process: no grants, no memory; it lists the Jobs before anything else.
            ledger = SlotLedger(Limits(max_running=limit))
            ledger.tasks_listed([(NS, t) for t in TASKS])
            cluster.relist(ledger, set())
            ledger.jobs_listed()
            for t in TASKS:
                ledger.seen((NS, t))
        assert cluster.holding() <= limit, (action, n, cluster.jobs)
        assert ledger.running().by_namespace == _recount(ledger), "the kept counts drifted"

    for name in list(cluster.jobs):
        cluster.put(cluster.task_of[name], replace(cluster.jobs[name], outcome="Complete"))
    cluster.deliver(ledger, len(cluster.pending))
    for task in TASKS:
        if ledger.awaited_job((NS, task)) not in cluster.jobs:
            ledger.release((NS, task))
        ledger.withdraw((NS, task))
    assert ledger.running().total == 0, "a slot leaked"


@settings(max_examples=200, deadline=None)
@given(wants=st.lists(st.tuples(st.sampled_from(TASKS), st.integers(-3, 3),
                                st.sampled_from(["a", "b"])), min_size=1, max_size=20),
       limit=st.integers(1, 4), per_ns=st.integers(0, 2), running=st.integers(0, 3))
def test_no_higher_priority_task_waits_while_a_lower_one_of_its_namespace_is_granted(
        wants: list[tuple[str, int, str]], limit: int, per_ns: int, running: int) -> None:
    """Priority orders a namespace's own tasks; across namespaces only the share counts
    (tests/unit/test_queue.py checks that)."""
    ledger = SlotLedger(Limits(max_running=limit, max_running_per_namespace=per_ns))
    ledger.jobs_listed()
    ledger.tasks_listed([])
    for i in range(running):
        ledger.job("a", f"r{i}", JobFacts(name=f"r{i}-1", attempt=1, created=NOW))
    for name, prio, namespace in wants:
        ledger.want(candidate(name, prio, namespace))
    granted = ledger.grant(NOW)
    usage = ledger.running()
    assert usage.total <= limit or not granted
    waiting = ledger.waiting()
    for key in granted:
        assert not ledger.is_waiting(key)
    for w in waiting:
        ns_full = per_ns and usage.of(w.namespace) >= per_ns
        if ns_full:
            continue
        for key in granted:
            if key[0] != w.namespace:
                continue
            g = candidate(key[1], next(p for n, p, s in reversed(wants)
                                       if (s, n) == key), key[0])
            assert order_key(g, NOW, None) <= order_key(w, NOW, None), (g, w)
