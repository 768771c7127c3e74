"""The task reconciler with progress on: each attempt's Job gets the progress URL, the token
file's path and a projected token volume with our audience in every container, and the
operator writes nothing else for it (no Secret, before or after the Job)."""

from __future__ import annotations

from typing import Any, cast

from agenttasks.controller.engine import Engine
from agenttasks.controller.settings import OperatorSettings
from agenttasks.controller.watches import Watches
from agenttasks.kube.client import Kube
from agenttasks.kube.secrets import SecretCache

from .test_task_reconciler import NS, T0, FakeKube, World, run

TOKEN_VOLUME = {"name": "agenttasks-progress-token", "projected": {"sources": [
    {"serviceAccountToken": {"audience": "agenttasks.io/progress", "expirationSeconds": 3600,
                             "path": "token"}}]}}
MOUNT = {"name": "agenttasks-progress-token",
         "mountPath": "/var/run/secrets/agenttasks.io/progress", "readOnly": True}


def progress_world(**settings: Any) -> tuple[World, FakeKube]:
    world = World.__new__(World)
    fake = FakeKube()
    kube = cast(Kube, fake)
    world.kube = fake
    wanted = {"progress_url": "http://op:8080/", **settings}
    world.engine = Engine(OperatorSettings(namespaces=(NS,), **wanted), kube,
                          SecretCache(kube))
    fake.watches = Watches(world.engine)
    world.engine.tasks.clock = lambda: T0
    world.engine.slots.clock = lambda: T0
    world.passes = []
    return world, fake


def test_every_container_gets_the_url_the_token_file_and_the_projected_token() -> None:
    async def scenario() -> None:
        world, fake = progress_world()
        await world.start()
        fake.add_task("mine", template={"spec": {
            "automountServiceAccountToken": False,  # the projected token does not need it
            "volumes": [{"name": "work", "emptyDir": {}}],
            "initContainers": [{"name": "fetch", "image": "busybox"}],
            "containers": [
                {"name": "a", "image": "busybox", "env": [{"name": "KEEP", "value": "1"}],
                 "volumeMounts": [{"name": "work", "mountPath": "/work"}]},
                {"name": "b", "image": "busybox"}]}})
        await world.drain()
        assert [w for w in fake.writes if w[0] != "status"] == [("create-job", "mine-1")]
        spec = fake.jobs["mine-1"]["spec"]["template"]["spec"]
        assert spec["automountServiceAccountToken"] is False
        assert spec["volumes"] == [{"name": "work", "emptyDir": {}}, TOKEN_VOLUME]
        for container in spec["initContainers"] + spec["containers"]:
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env["AGENTTASK_PROGRESS_URL"] == f"http://op:8080/progress/{NS}/mine"
            assert env["AGENTTASK_PROGRESS_TOKEN_FILE"] == \
                "/var/run/secrets/agenttasks.io/progress/token"
            assert "AGENTTASK_PROGRESS_TOKEN" not in env
            assert container["volumeMounts"][-1] == MOUNT
        assert spec["containers"][0]["volumeMounts"][0]["name"] == "work"
        assert spec["containers"][0]["env"][0] == {"name": "KEEP", "value": "1"}

    run(scenario)


def test_a_template_that_uses_our_names_has_them_replaced_and_the_audience_is_ours() -> None:
    async def scenario() -> None:
        world, fake = progress_world(progress_audience="progress.example.com")
        await world.start()
        fake.add_task("clash", template={"spec": {
            "volumes": [{"name": "agenttasks-progress-token", "emptyDir": {}}],
            "containers": [{"name": "a", "image": "busybox", "env": [
                {"name": "AGENTTASK_PROGRESS_TOKEN_FILE", "value": "/tmp/forged"}],
                "volumeMounts": [
                    {"name": "other", "mountPath": "/var/run/secrets/agenttasks.io/progress/"},
                    {"name": "agenttasks-progress-token", "mountPath": "/elsewhere"}]}]}})
        await world.drain()
        spec = fake.jobs["clash-1"]["spec"]["template"]["spec"]
        [volume] = spec["volumes"]
        assert volume["projected"]["sources"][0]["serviceAccountToken"]["audience"] == \
            "progress.example.com"
        [container] = spec["containers"]
        assert container["volumeMounts"] == [MOUNT]
        assert [e["value"] for e in container["env"]
                if e["name"] == "AGENTTASK_PROGRESS_TOKEN_FILE"] == \
            ["/var/run/secrets/agenttasks.io/progress/token"]

    run(scenario)


def test_without_a_progress_url_the_job_is_the_template_alone() -> None:
    async def scenario() -> None:
        world, fake = progress_world(progress_url=None)
        await world.start()
        fake.add_task("plain")
        await world.drain()
        spec = fake.jobs["plain-1"]["spec"]["template"]["spec"]
        assert "volumes" not in spec
        assert all("env" not in c and "volumeMounts" not in c for c in spec["containers"])

    run(scenario)
