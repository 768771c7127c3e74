"""Passes over terminal tasks, which the view holds as summaries: nothing is read or written
while their Jobs say nothing new, and the whole task is read from the API server when they
do (over the reconciler tests' fake client)."""

from __future__ import annotations

from agenttasks.core.facts import TaskFacts, TaskSummary

from .test_task_reconciler import World, run


def test_a_finished_task_is_kept_as_a_summary_and_its_passes_read_nothing() -> None:
    async def scenario() -> None:
        world = World()
        await world.start()
        world.kube.add_task("done")
        await world.drain()
        assert isinstance(world.engine.view.entry(("team", "done")), TaskFacts)
        world.kube.finish_job("done-1")
        await world.drain()
        world.kube.deliver_status_event("done")
        await world.drain()
        assert world.phase("done") == ("Completed", "Succeeded")
        assert isinstance(world.engine.view.entry(("team", "done")), TaskSummary)
        writes, passes = len(world.kube.writes), len(world.passes)
        world.kube.finish_job("done-1")  # another event of its Job: a pass, settled
        await world.drain()
        assert len(world.passes) == passes + 1
        assert world.kube.reads == [] and len(world.kube.writes) == writes

    run(scenario)


def test_a_pass_reads_the_whole_task_when_a_job_says_something_new() -> None:
    async def scenario() -> None:
        world = World()
        await world.start()
        world.kube.add_task("cut", cancelled=True)
        await world.drain()
        world.kube.deliver_status_event("cut")
        await world.drain()
        assert world.phase("cut") == ("Cancelled", "Cancelled")
        assert isinstance(world.engine.view.entry(("team", "cut")), TaskSummary)
        # A Job of an attempt its status never counted (left by an earlier run, say): the
        # pass needs the whole task, and decides as it always did.
        await world.kube.create_job({"metadata": {
            "name": "cut-1", "namespace": "team",
            "labels": {"agenttasks.io/task": "cut", "agenttasks.io/attempt": "1"},
            "ownerReferences": [{"apiVersion": "agenttasks.io/v1alpha1", "kind": "AgentTask",
                                 "name": "cut", "uid": "uid-cut", "controller": True}]},
            "spec": {}})
        await world.drain()
        assert world.kube.reads == ["cut"]
        assert ("delete-job", "cut-1") in world.kube.writes

    run(scenario)


def test_the_dashboard_and_dependencies_read_summaries_of_every_task() -> None:
    async def scenario() -> None:
        world = World()
        await world.start()
        world.kube.add_task("first", displayName="First")
        world.kube.add_task("second", dependsOn=["first"], cancelled=True)
        await world.drain()
        world.kube.deliver_status_event("second")
        view = world.engine.view
        running, done = view.summary(("team", "first")), view.summary(("team", "second"))
        assert running is not None and done is not None
        assert (running.display_name, running.terminal) == ("First", False)
        assert (done.depends_on, done.terminal, done.phase) == (("first",), True, "Cancelled")

    run(scenario)
