"""What pause, resume, cancel, rerun and run-now write (agenttasks.actions), shared by the CLI
and the dashboard."""

from __future__ import annotations

import asyncio
import copy
import re
from typing import Any

import pytest

from agenttasks import actions
from agenttasks.api.meta import ANNOTATION_RUN_NOW
from agenttasks.api.task import MAX_TASK_NAME
from agenttasks.core.naming import manual_task_name

JSON = dict[str, Any]
VALID_LABEL = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def old_task(name: str = "report", **spec: Any) -> JSON:
    return {
        "apiVersion": "agenttasks.io/v1alpha1", "kind": "AgentTask",
        "metadata": {"name": name, "namespace": "team", "uid": "123", "resourceVersion": "9",
                     "labels": {"team": "sales", "agenttasks.io/schedule": "nightly"},
                     "annotations": {"note": "old"},
                     "ownerReferences": [{"kind": "AgentTaskSchedule", "name": "nightly"}]},
        "spec": {"priority": 0, "dependsOn": [], "template": {"spec": {"containers": []}},
                 **spec},
        "status": {"phase": "Failed", "reason": "JobFailed", "attempts": 1},
    }


@pytest.mark.parametrize(("action", "spec"), [
    ("pause", {"paused": True}), ("resume", {"paused": False}), ("cancel", {"cancelled": True}),
])
def test_task_patch(action: actions.TaskAction, spec: JSON) -> None:
    patch = actions.task_patch(action)
    assert patch == {"spec": spec}
    patch["spec"]["paused"] = "changed"  # each call is a fresh dict
    assert actions.task_patch(action) == {"spec": spec}


def test_label_value_keeps_what_fits_and_hashes_the_rest() -> None:
    assert actions.label_value("report") == "report"
    assert actions.label_value("x" * 63) == "x" * 63
    long_a, long_b = "a" * 60 + "-one", "a" * 60 + "-two"
    value_a, value_b = actions.label_value(long_a), actions.label_value(long_b)
    assert value_a != value_b  # different names keep different values
    assert value_a == actions.label_value(long_a)  # and the same name the same value
    for value in (value_a, value_b, actions.label_value("x" * 253),
                  actions.label_value("-dots.and spaces!-"), actions.label_value("...")):
        assert len(value) <= 63 and VALID_LABEL.match(value), value
    assert actions.label_value("-dots.and spaces!-").startswith("dots.and-spaces")


def test_rerun_name() -> None:
    assert actions.rerun_name("report", "ab3d9") == "report-rerun-ab3d9"
    # A task's name is at most 63 characters (it labels its Jobs and pods): so is a rerun's.
    name = actions.rerun_name("x" * MAX_TASK_NAME)
    assert len(name) == MAX_TASK_NAME and name.startswith("x") and name[-12:-5] == "-rerun-"
    assert re.fullmatch(r"[a-z0-9]{5}", name[-5:])
    # A cut that would end in a dot or dash is trimmed: the name stays a valid DNS name.
    cut = actions.rerun_name("a" * 50 + ".b" * 6, "zzzzz")
    assert cut == "a" * 50 + "-rerun-zzzzz"


def test_rerun_manifest() -> None:
    """Moved from test_cli_format.py's test_rerun_name_and_body; the one change: the old
    task's ``paused`` is dropped too (the CLI used to keep it)."""
    old = old_task(cancelled=True, paused=True)
    before = copy.deepcopy(old)
    body = actions.rerun_manifest(old, "report-rerun-ab3d9")
    assert body["metadata"] == {
        "name": "report-rerun-ab3d9", "namespace": "team",
        "labels": {"team": "sales", "agenttasks.io/rerun-of": "report"},
        "annotations": {"agenttasks.io/rerun-of": "report"}}
    assert "status" not in body
    assert "cancelled" not in body["spec"] and "paused" not in body["spec"]
    assert body["spec"]["template"] == {"spec": {"containers": []}}
    assert (body["apiVersion"], body["kind"]) == ("agenttasks.io/v1alpha1", "AgentTask")
    assert old == before  # the old object is not touched
    body["spec"]["template"]["spec"]["containers"].append({"name": "x"})
    assert old == before  # nor shared with the new one


def test_rerun_manifest_of_a_long_name_and_who_asked() -> None:
    """The schema allows no task name over 63 characters; the builder still labels one
    safely (a prefix and a hash) and keeps it whole in the annotation."""
    long = "t" * 100
    new_name = actions.rerun_name(long, "ab3d9")
    body = actions.rerun_manifest(old_task(long), new_name, requested_by="alice")
    label = body["metadata"]["labels"]["agenttasks.io/rerun-of"]
    assert len(label) <= 63 and VALID_LABEL.match(label) and label.startswith("t")
    assert body["metadata"]["annotations"] == {"agenttasks.io/rerun-of": long,
                                               "agenttasks.io/requested-by": "alice"}
    assert body["metadata"]["name"] == new_name == "t" * 51 + "-rerun-ab3d9"


def test_run_now_token_and_patch() -> None:
    token = actions.new_run_now_token(now=1767225600.7)
    assert re.fullmatch(r"1767225600-[0-9a-f]{8}", token)
    assert actions.new_run_now_token(now=1.0) != actions.new_run_now_token(now=1.0)
    assert actions.run_now_patch(token) == {
        "metadata": {"annotations": {ANNOTATION_RUN_NOW: token}}}


class MemoryWriter:
    """Objects by (plural, namespace, name), with merge patches of one level."""

    def __init__(self, objects: dict[tuple[str, str, str], JSON]) -> None:
        self.objects = objects
        self.created: list[JSON] = []

    async def get_object(self, plural: str, namespace: str, name: str) -> JSON | None:
        return self.objects.get((plural, namespace, name))

    async def patch_object(self, plural: str, namespace: str, name: str, patch: JSON) -> JSON:
        obj = self.objects[(plural, namespace, name)]
        for section, values in patch.items():
            obj.setdefault(section, {}).update(values)
        return obj

    async def create_object(self, plural: str, body: JSON, dry_run: bool = False) -> JSON:
        self.created.append(body)
        return body


def test_the_coroutines_write_what_the_builders_say() -> None:
    schedule: JSON = {"metadata": {"name": "nightly", "namespace": "team"}}
    writer = MemoryWriter({("agenttasks", "team", "report"): old_task(paused=True),
                           ("agenttaskschedules", "team", "nightly"): schedule})

    async def scenario() -> None:
        paused = await actions.change_task(writer, "resume", "team", "report")
        assert paused["spec"]["paused"] is False
        created = await actions.rerun(writer, "team", "report", "again")
        assert created["metadata"]["name"] == "again"
        with pytest.raises(actions.NotFound):
            await actions.rerun(writer, "team", "ghost")
        token, task = await actions.run_now(writer, "team", "nightly")
        assert schedule["metadata"]["annotations"] == {ANNOTATION_RUN_NOW: token}
        assert task == manual_task_name("nightly", token)

    asyncio.run(scenario())
    assert [body["metadata"]["name"] for body in writer.created] == ["again"]
