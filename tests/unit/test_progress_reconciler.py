"""The task reconciler with progress on: each attempt's Job gets the progress env only when
the token's Secret is the task's, and a foreign one is left alone with an Event saying why."""

from __future__ import annotations

import copy
from typing import Any, cast

from agenttasks.controller.engine import Engine
from agenttasks.controller.events import EventRecorder
from agenttasks.controller.settings import OperatorSettings
from agenttasks.controller.watches import Watches
from agenttasks.core.actions import Emit
from agenttasks.kube.client import Kube
from agenttasks.kube.progress_tokens import ProgressTokens
from agenttasks.kube.secrets import SecretCache

from .test_progress_tokens import FakeSecrets, secret
from .test_task_reconciler import NS, T0, FakeKube, World, run


class KubeWithSecrets(FakeKube, FakeSecrets):
    def __init__(self) -> None:
        FakeKube.__init__(self)
        FakeSecrets.__init__(self)


class RecordedEvents(EventRecorder):
    def __init__(self, kube: Kube) -> None:
        super().__init__(kube)
        self.recorded: list[tuple[str, Emit]] = []

    def record(self, kind: str, namespace: str, name: str, uid: str, event: Emit) -> None:
        self.recorded.append((name, event))


def progress_world() -> tuple[World, KubeWithSecrets, RecordedEvents]:
    world = World.__new__(World)
    fake = KubeWithSecrets()
    kube = cast(Kube, fake)
    world.kube = fake
    world.engine = Engine(OperatorSettings(namespaces=(NS,), progress_url="http://op:8080"),
                          kube, SecretCache(kube), ProgressTokens(kube))
    events = RecordedEvents(kube)
    world.engine.tasks.events = events
    fake.watches = Watches(world.engine)
    world.engine.tasks.clock = lambda: T0
    world.engine.slots.clock = lambda: T0
    world.passes = []
    return world, fake, events


def env_names(job: dict[str, Any]) -> set[str]:
    return {e["name"] for c in job["spec"]["template"]["spec"]["containers"]
            for e in c.get("env") or []}


def test_the_tasks_own_secret_gives_the_attempt_its_progress_env() -> None:
    async def scenario() -> None:
        world, fake, events = progress_world()
        await world.start()
        fake.add_task("mine")
        await world.drain()
        assert {"AGENTTASK_PROGRESS_URL", "AGENTTASK_PROGRESS_TOKEN"} <= \
            env_names(fake.jobs["mine-1"])
        assert (NS, "mine-progress") in fake.secrets
        assert [e for _name, e in events.recorded if e.type == "Warning"] == []

    run(scenario)


def test_a_foreign_secret_leaves_the_attempt_without_progress_and_says_why() -> None:
    async def scenario() -> None:
        world, fake, events = progress_world()
        planted = secret("squatted-progress", "planted", 1, [])
        fake.secrets[(NS, "squatted-progress")] = copy.deepcopy(planted)
        await world.start()
        fake.add_task("squatted")
        await world.drain()
        job = fake.jobs["squatted-1"]
        assert not env_names(job) & {"AGENTTASK_PROGRESS_URL", "AGENTTASK_PROGRESS_TOKEN"}
        assert fake.secrets[(NS, "squatted-progress")] == planted
        assert [(name, e.reason) for name, e in events.recorded if e.type == "Warning"] == \
            [("squatted", "ProgressUnavailable")]
        assert world.phase("squatted") == ("InProgress", "Running")  # it runs all the same

    run(scenario)
