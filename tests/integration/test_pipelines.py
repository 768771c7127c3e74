"""Results along dependsOn on the real control plane: each step's Job carries the results of
the steps it depends on (an annotation of its pod template, a downward API volume over it,
AGENTTASK_INPUTS naming the file), read here as its pod would read the file; the Job's
create is the only write it costs; a fan-in over the size bound cuts the huge result."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import watch

from agenttasks import progress as helper
from agenttasks.api.meta import GROUP, VERSION
from agenttasks.core.pipelines import INPUTS_MAX_BYTES
from agenttasks.manifests.jobs import ANNOTATION_INPUTS, INPUTS_VOLUME
from tests.downward import annotation_files, env_of

from .harness import Api, pod_template, wait_for


def _step(api: Api, ns: str, name: str, message: str, depends_on: list[str]) -> None:
    template = pod_template("1s")
    template["metadata"]["annotations"]["sim.agenttasks.io/message"] = message
    spec: dict[str, Any] = {"template": template}
    if depends_on:
        spec["dependsOn"] = depends_on
    api.create_task(ns, {"metadata": {"name": name}, "spec": spec})


def _only_pod(api: Api, ns: str, job: Any) -> dict[str, Any]:
    """The pod the Job controller made from the Job's template, as the API serves it."""
    [pod] = [p for p in api.core.list_namespaced_pod(ns, label_selector=f"job-name="
                                                     f"{job.metadata.name}").items
             if any(r.uid == job.metadata.uid for r in p.metadata.owner_references or [])]
    return dict(api.client.sanitize_for_serialization(pod))


def _inputs_seen_by(pod: dict[str, Any], root: Path, monkeypatch: pytest.MonkeyPatch
                    ) -> tuple[str, dict[str, dict[str, object]]]:
    """The inputs file of the pod's container as the kubelet would write it (the downward
    API volume's item over the pod's own annotation, at the mount's path), read by
    agenttasks.progress.inputs() through AGENTTASK_INPUTS, as an agent reads it."""
    files = annotation_files(pod, "agent")
    path = env_of(pod, "agent")[helper.INPUTS_ENV]
    assert path in files, (path, sorted(files))
    local = root / path.lstrip("/")
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(files[path])
    monkeypatch.setenv(helper.INPUTS_ENV, str(local))
    return files[path], helper.inputs()


class Writes:
    """Every version of the namespace's tasks, Jobs, ConfigMaps, Secrets and Events from the
    moment it starts, as watches deliver them: (kind, event type, object)."""

    def __init__(self, api: Api, ns: str) -> None:
        self.seen: list[tuple[str, str, dict[str, Any]]] = []
        self._done = threading.Event()
        self._streams: list[watch.Watch] = []
        self._errors: list[BaseException] = []
        sources: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {
            "AgentTask": (api.custom.list_namespaced_custom_object,
                          (GROUP, VERSION, ns, "agenttasks")),
            "Job": (api.batch.list_namespaced_job, (ns,)),
            "ConfigMap": (api.core.list_namespaced_config_map, (ns,)),
            "Secret": (api.core.list_namespaced_secret, (ns,)),
            "Event": (api.core.list_namespaced_event, (ns,)),
        }
        self._threads = []
        for kind, (lister, args) in sources.items():
            listed = lister(*args)
            version = listed["metadata"]["resourceVersion"] if isinstance(listed, dict) \
                else listed.metadata.resource_version
            stream = watch.Watch()
            self._streams.append(stream)
            thread = threading.Thread(target=self._record, daemon=True,
                                      args=(api, kind, stream, lister, args, version))
            thread.start()
            self._threads.append(thread)

    def _record(self, api: Api, kind: str, stream: watch.Watch, lister: Callable[..., Any],
                args: tuple[Any, ...], version: str) -> None:
        try:
            for event in stream.stream(lister, *args, resource_version=version,
                                       timeout_seconds=300):
                body = event["object"]
                if not isinstance(body, dict):
                    body = api.client.sanitize_for_serialization(body)
                self.seen.append((kind, event["type"], body))
        except BaseException as exc:  # a watch that broke while recording is a finding
            if not self._done.is_set():
                self._errors.append(exc)

    def stop(self) -> None:
        self._done.set()
        for stream in self._streams:
            stream.stop()
        assert not self._errors, self._errors

    def of(self, kind: str, name: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        return [(kind_type, body) for k, kind_type, body in list(self.seen)
                if k == kind and (name is None or body["metadata"]["name"] == name)]


@pytest.fixture
def writes(api: Api, ns: str) -> Iterator[Writes]:
    recorder = Writes(api, ns)
    yield recorder
    recorder.stop()


STEPS = {  # step: (its termination message, its dependsOn)
    "extract": ("s3://bucket/raw/2026-12-01/", []),
    "transform": ("s3://bucket/clean/2026-12-01.parquet", ["extract"]),
    "load": ('{"rows": 1234, "table": "warehouse.orders"}', ["transform"]),
}


def test_each_step_reads_the_results_of_the_steps_before_it(
        api: Api, ns: str, writes: Writes, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("load", "transform", "extract"):  # any order: dependencies are waited for
        message, depends_on = STEPS[name]
        _step(api, ns, name, message, depends_on)
    api.wait_phase(ns, "load", "Completed", 90)

    for name, (_, depends_on) in STEPS.items():
        [job] = api.jobs(ns, name)
        template = api.client.sanitize_for_serialization(job.spec.template)
        pod = _only_pod(api, ns, job)
        annotations = pod["metadata"].get("annotations") or {}
        if not depends_on:
            assert ANNOTATION_INPUTS not in annotations
            assert helper.INPUTS_ENV not in env_of(pod, "agent")
            continue
        # The Job's template carries the annotation and a downward API volume naming it...
        [volume] = [v for v in template["spec"]["volumes"] if v["name"] == INPUTS_VOLUME]
        assert volume["downwardAPI"]["items"] == [{
            "path": "inputs.json",
            "fieldRef": {"apiVersion": "v1",
                         "fieldPath": f"metadata.annotations['{ANNOTATION_INPUTS}']"}}]
        assert template["metadata"]["annotations"][ANNOTATION_INPUTS] == \
            annotations[ANNOTATION_INPUTS]
        # ...which the pod sees as the file AGENTTASK_INPUTS names.
        text, inputs = _inputs_seen_by(pod, tmp_path / name, monkeypatch)
        assert env_of(pod, "agent")[helper.INPUTS_ENV] == "/var/run/agenttask-inputs/inputs.json"
        [before] = depends_on
        assert inputs == {before: {
            "name": before, "phase": "Completed", "reason": "Succeeded",
            "result": {"attempt": 1, "message": STEPS[before][0]}}}
        assert json.loads(text) == list(inputs.values())
    assert json.loads(str(api.status(ns, "load")["result"]["message"])) == {
        "rows": 1234, "table": "warehouse.orders"}

    # What it cost: nothing but the Jobs' creates, which carry the inputs as they are made.
    wait_for(lambda: any(t == "MODIFIED" and (b.get("status") or {}).get("phase") == "Completed"
                         for t, b in writes.of("AgentTask", "load")) or None, 15,
             what="the watch to deliver load's completion")
    for name, (_, depends_on) in STEPS.items():
        jobs = [body for kind_type, body in writes.of("Job") if kind_type == "ADDED" and
                body["metadata"]["labels"].get("agenttasks.io/task") == name]
        assert len(jobs) == 1, name
        created = (jobs[0]["spec"]["template"]["metadata"].get("annotations") or {})
        assert (ANNOTATION_INPUTS in created) == bool(depends_on), name
        versions = writes.of("AgentTask", name)
        assert versions[0][0] == "ADDED"
        # The task itself: its spec and metadata as created, only status written.
        for _, body in versions[1:]:
            assert body["metadata"].get("annotations") == \
                versions[0][1]["metadata"].get("annotations")
            assert body["metadata"]["generation"] == 1
        # Each status write says something new (a dependency's wait changes its message as
        # the dependency appears): none is spent on the inputs.
        said = [(s.get("phase"), s.get("reason"), s.get("message"))
                for s in ((b.get("status") or {}) for _, b in versions[1:])]
        assert all(a != b for a, b in itertools.pairwise(said)), (name, said)
        phases = [(phase, reason) for i, (phase, reason, _) in enumerate(said)
                  if i == 0 or said[i - 1][:2] != (phase, reason)]
        waited = [("Pending", "WaitingForDependencies")] if depends_on else []
        assert phases == [*waited, ("InProgress", "Running"), ("Completed", "Succeeded")], \
            (name, said)
    assert writes.of("ConfigMap") == [] and writes.of("Secret") == []
    assert [b for _, b in writes.of("Event")
            if b["involvedObject"]["kind"] == "AgentTask"] == []


def test_a_fan_in_over_the_bound_keeps_every_result_but_cuts_the_huge_one(
        api: Api, ns: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = [f"part-{i:02}" for i in range(14)]
    for name in small:
        _step(api, ns, name, name + ":" + "s" * 4000, [])
    huge = "€" * 4096  # 4096 characters, the most a result keeps: 12 KiB of UTF-8
    _step(api, ns, "huge", huge, [])
    _step(api, ns, "merge", "merged", [*small[:7], "huge", *small[7:]])
    api.wait_phase(ns, "merge", "Completed", 120)

    [job] = api.jobs(ns, "merge")
    text, inputs = _inputs_seen_by(_only_pod(api, ns, job), tmp_path, monkeypatch)
    assert len(text.encode()) <= INPUTS_MAX_BYTES
    assert list(inputs) == [*small[:7], "huge", *small[7:]]  # dependsOn's order
    for name in small:
        assert inputs[name]["result"] == {"attempt": 1, "message": name + ":" + "s" * 4000}
    cut = inputs["huge"]
    assert (cut["phase"], cut["reason"]) == ("Completed", "Succeeded")
    result = cut["result"]
    assert isinstance(result, dict)
    assert result["attempt"] == 1 and result["truncated"] is True
    assert result["messageBytes"] == 3 * 4096
    assert huge.startswith(result["message"]) and 0 < len(result["message"]) < 4096
