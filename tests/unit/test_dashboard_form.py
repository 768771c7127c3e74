"""The New task form: the AgentTask built from fields or a pasted manifest (pure), and the
endpoint that checks access, dry-runs and creates it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agenttasks.kube.access_reviews import ANSWER_TTL_S
from agenttasks.kube.client import ApiError
from agenttasks.web.task_form import (
    MAX_BODY_BYTES,
    MAX_MANIFEST_CHARS,
    FormError,
    new_task,
    parse_command,
    parse_depends_on,
    parse_env,
    task_from_form,
    task_from_manifest,
    task_name,
)
from tests.unit.test_dashboard_http import READER, WRITER, World, bearer, error_of, run

FIELDS = {"namespace": "a", "displayName": "Daily Sales Report - US Region",
          "image": "busybox:1.36", "command": 'sh -c "echo hello; sleep 1"',
          "env": "REGION=us\n\n# a comment\nMODE=a=b\n", "priority": "5", "retries": "3",
          "timeout": "20m", "deadline": "2026-01-02T00:00:00Z", "dependsOn": "extract, clean"}


def test_a_task_from_the_form() -> None:
    assert task_from_form(FIELDS, "alice", suffix="x7k2p") == {
        "apiVersion": "agenttasks.io/v1alpha1", "kind": "AgentTask",
        "metadata": {"name": "daily-sales-report-us-region-x7k2p", "namespace": "a",
                     "annotations": {"agenttasks.io/requested-by": "alice"}},
        "spec": {
            "template": {"spec": {"containers": [{
                "name": "agent", "image": "busybox:1.36",
                "command": ["sh", "-c", "echo hello; sleep 1"],
                "env": [{"name": "REGION", "value": "us"}, {"name": "MODE", "value": "a=b"}],
            }]}},
            "displayName": "Daily Sales Report - US Region", "priority": 5,
            "retries": {"limit": 3}, "timeout": "20m", "deadline": "2026-01-02T00:00:00Z",
            "dependsOn": ["extract", "clean"]}}


def test_the_smallest_form_and_a_chosen_name() -> None:
    task = task_from_form({"namespace": "a", "image": "busybox", "name": "mine"}, "bob")
    assert task["metadata"]["name"] == "mine"
    assert task["spec"] == {"template": {"spec": {"containers": [
        {"name": "agent", "image": "busybox"}]}}}


@pytest.mark.parametrize(("display", "name"), [
    ("Daily Sales Report", "daily-sales-report-abcde"),
    ("", "task-abcde"), ("!!!", "task-abcde"), ("Ünïcode only é", "n-code-only-abcde"),
    ("x" * 100, "x" * 57 + "-abcde"),
])
def test_task_name_from_the_display_name(display: str, name: str) -> None:
    assert task_name(display, "abcde") == name
    assert len(name) <= 63


@pytest.mark.parametrize(("change", "message"), [
    ({"image": ""}, "image is required"),
    ({"namespace": ""}, "namespace is required"),
    ({"namespace": "Not_OK"}, "'Not_OK' is not a namespace name"),
    ({"image": "busy box"}, "the image must not contain spaces"),
    ({"name": "Bad_Name"}, "'Bad_Name' is not a task name"),
    ({"priority": "high"}, "priority must be a whole number"),
    ({"retries": "-1"}, "spec.retries.limit: Input should be greater than or equal to 0"),
    ({"timeout": "soon"}, "spec.timeout: Value error, 'soon' is not a duration"),
    ({"deadline": "2026-01-02T00:00:00"}, "spec.deadline needs a time zone"),
    ({"deadline": "tomorrow"}, "spec.deadline: Input should be a valid datetime"),
    ({"dependsOn": "Bad_Dep"}, "'Bad_Dep' is not an AgentTask name"),
    ({"command": 'sh -c "unclosed'}, "the command cannot be split into words"),
    ({"displayName": "x" * 257}, "displayName is longer than 256 characters"),
    ({"env": "1BAD=x"}, "environment line 1"),
    ({"owner": "x"}, "unknown form field 'owner'"),
    ({"priority": 5}, "priority must be text"),
])
def test_form_mistakes_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(FormError) as caught:
        task_from_form({**FIELDS, **change}, "alice")
    assert message in caught.value.message


def test_env_lines() -> None:
    assert parse_env("A=1\n  # note\nB= two \n") == [{"name": "A", "value": "1"},
                                                    {"name": "B", "value": " two "}]
    with pytest.raises(FormError, match="A is set twice"):
        parse_env("A=1\nA=2")
    with pytest.raises(FormError, match="line 2"):
        parse_env("A=1\nno equals sign")
    with pytest.raises(FormError, match="at most 100"):
        parse_env("\n".join(f"V{i}=x" for i in range(101)))


def test_command_and_dependencies() -> None:
    assert parse_command("python -m agent --region 'us east'") == [
        "python", "-m", "agent", "--region", "us east"]
    assert parse_command("   ") == []
    assert parse_depends_on(" a, b\nc  d,,") == ["a", "b", "c", "d"]


MANIFEST = """
apiVersion: agenttasks.io/v1alpha1
kind: AgentTask
metadata:
  name: daily-sales-report
  labels: {team: sales, agenttasks.io/schedule: nightly}
  annotations: {note: hi, agenttasks.io/run-now-token: t}
spec:
  displayName: Daily Sales Report - US Region
  retries: {limit: 3, delay: 30s}
  template:
    spec:
      containers:
      - name: agent
        image: busybox:1.36
status: {phase: Completed}
"""


def test_a_task_from_a_pasted_manifest() -> None:
    task = task_from_manifest(MANIFEST, "a", "alice")
    assert task["metadata"] == {
        "name": "daily-sales-report", "namespace": "a", "labels": {"team": "sales"},
        "annotations": {"note": "hi", "agenttasks.io/requested-by": "alice"}}
    assert task["spec"]["retries"] == {"limit": 3, "delay": "30s"}
    assert "status" not in task


def test_a_manifest_without_a_name_gets_one() -> None:
    text = MANIFEST.replace("  name: daily-sales-report\n", "")
    assert task_from_manifest(text, "a", "u", "abcde")["metadata"]["name"] == (
        "daily-sales-report-us-region-abcde")
    text = MANIFEST.replace("  name: daily-sales-report\n", "  generateName: report-\n")
    assert task_from_manifest(text, "a", "u", "abcde")["metadata"]["name"] == "report-abcde"


def test_the_namespace_comes_from_the_manifest_or_the_form() -> None:
    text = MANIFEST.replace("  name: daily", "  namespace: b\n  name: daily")
    assert task_from_manifest(text, "", "u")["metadata"]["namespace"] == "b"
    assert task_from_manifest(text, "b", "u")["metadata"]["namespace"] == "b"
    with pytest.raises(FormError, match="namespace 'b' is not the chosen 'a'"):
        task_from_manifest(text, "a", "u")
    with pytest.raises(FormError, match="choose a namespace"):
        task_from_manifest(MANIFEST, "", "u")


@pytest.mark.parametrize(("text", "message"), [
    ("a: [", "the manifest is not YAML"),
    ("- just\n- a list", "one AgentTask (a YAML mapping)"),
    ("---\na: 1\n---\nb: 2", "the manifest is not YAML"),
    ("kind: Pod\nspec: {}", "must be an AgentTask"),
    ("apiVersion: v1\nkind: AgentTask\nspec: {}", "must be an AgentTask"),
    ("metadata: {name: x}", "the manifest has no spec"),
    ("metadata: {name: x, ownerReferences: []}\nspec: {}", "metadata.ownerReferences cannot"),
    ("metadata: {name: x, labels: {a: 1}}\nspec: {}", "labels must map strings to strings"),
    ("metadata: {name: x}\nspec: {retrys: 3}", "spec.retrys is not a field"),
    ("metadata: {name: x}\nspec: {priority: 1}", "spec.template: Field required"),
    ("a: &x [1]\nb: *x", "may not use YAML aliases"),
    ("[" * 20000 + "]" * 20000, "nested too deeply"),
    ("x" * (MAX_MANIFEST_CHARS + 1), "longer than 64 KiB"),
])
def test_manifest_mistakes_are_named(text: str, message: str) -> None:
    with pytest.raises(FormError) as caught:
        task_from_manifest(text, "a", "u")
    assert message in caught.value.message


def test_a_billion_laughs_is_refused_before_it_expands() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(FormError, match="aliases"):
        task_from_manifest("\n".join(lines), "a", "u")


def test_new_task_reads_either_shape() -> None:
    assert new_task({"form": FIELDS}, "u")["metadata"]["namespace"] == "a"
    assert new_task({"manifest": MANIFEST, "namespace": "a"}, "u")["metadata"]["name"] == (
        "daily-sales-report")
    for bad in ({}, {"form": "x"}, {"manifest": MANIFEST, "namespace": 3}):
        with pytest.raises(FormError):
            new_task(bad, "u")


# --- the endpoint ---------------------------------------------------------------------------

URL = "/api/dashboard/tasks"


def test_create_dry_runs_then_creates_and_links_the_new_task() -> None:
    world = World()

    async def check(client: TestClient[Any, Any]) -> None:
        resp = await client.post(URL, json={"form": {**FIELDS, "name": "report"}},
                                 headers=bearer(WRITER))
        assert resp.status == 201
        assert await resp.json() == {"message": "Created a/report.", "namespace": "a",
                                     "name": "report", "url": "/tasks/a/report"}
        assert world.kube.writes == [("dry-run", "report"), ("create", "report")]
        created = world.kube.created[0]
        assert created["spec"]["displayName"] == "Daily Sales Report - US Region"
        assert created["metadata"]["annotations"]["agenttasks.io/requested-by"] == "writer"
        reviews = [r["spec"] for r in world.kube.access_reviews[-2:]]
        assert {r["user"] for r in reviews} == {"writer"}
        assert sorted((r["resourceAttributes"] for r in reviews), key=str) == [
            {"verb": "create", "group": "agenttasks.io", "resource": "agenttasks",
             "namespace": "a"},
            {"verb": "create", "group": "batch", "resource": "jobs", "namespace": "a"}]

    run(world, check)


def test_create_is_refused_without_the_right_and_writes_nothing() -> None:
    world = World()

    async def check(client: TestClient[Any, Any]) -> None:
        resp = await client.post(URL, json={"form": FIELDS}, headers=bearer(READER))
        assert resp.status == 403
        assert await error_of(resp) == ("reader may not create agenttasks.agenttasks.io in "
                                        "namespace 'a'")
        resp = await client.post(URL, json={"form": FIELDS})
        assert resp.status == 401
        resp = await client.post(URL, json={"form": {**FIELDS, "namespace": "b"}},
                                 headers=bearer(WRITER))
        assert resp.status == 403
        world.kube.rules.add(("writer", "create", "agenttasks", "unwatched"))
        world.kube.rules.add(("writer", "create", "jobs", "unwatched"))
        resp = await client.post(URL, json={"form": {**FIELDS, "namespace": "unwatched"}},
                                 headers=bearer(WRITER))
        assert resp.status == 404
        assert world.kube.writes == []

    run(world, check)


def test_create_needs_the_rights_the_template_needs() -> None:
    world = World()
    world.kube.rules.discard(("writer", "create", "jobs", "a"))
    as_deployer = MANIFEST.replace("containers:", "serviceAccountName: deployer\n      containers:")
    assert "serviceAccountName: deployer" in as_deployer

    async def check(client: TestClient[Any, Any]) -> None:
        resp = await client.post(URL, json={"form": FIELDS}, headers=bearer(WRITER))
        assert resp.status == 403
        assert await error_of(resp) == "writer may not create jobs.batch in namespace 'a'"
        world.kube.rules.add(("writer", "create", "jobs", "a"))
        world.now += ANSWER_TTL_S
        resp = await client.post(URL, json={"manifest": as_deployer, "namespace": "a"},
                                 headers=bearer(WRITER))
        assert resp.status == 403
        assert await error_of(resp) == ("writer may not impersonate serviceaccounts "
                                        "'deployer' in namespace 'a'")
        assert world.kube.writes == []

    run(world, check)


def test_a_refused_dry_run_shows_the_api_servers_message_and_creates_nothing() -> None:
    world = World()
    world.kube.refusal = ApiError(403, "Forbidden", 'admission webhook "validate.agenttasks.io"'
                                  ' denied the request: spec.dependsOn names itself')

    async def check(client: TestClient[Any, Any]) -> None:
        resp = await client.post(URL, json={"form": {**FIELDS, "name": "report"}},
                                 headers=bearer(WRITER))
        assert resp.status == 422
        assert await error_of(resp) == (
            "the API server refused a/report (dry run): admission webhook "
            '"validate.agenttasks.io" denied the request: spec.dependsOn names itself')
        world.kube.refusal = ApiError(409, "AlreadyExists", 'agenttasks "report" already '
                                      "exists")
        resp = await client.post(URL, json={"form": {**FIELDS, "name": "report"}},
                                 headers=bearer(WRITER))
        assert resp.status == 409 and "already exists" in await error_of(resp)
        assert world.kube.writes == [("dry-run", "report")] * 2 and world.kube.created == []

    run(world, check)


def test_bad_requests_are_refused_before_any_review() -> None:
    world = World()

    async def check(client: TestClient[Any, Any]) -> None:
        resp = await client.post(URL, json={"form": {**FIELDS, "image": ""}},
                                 headers=bearer(WRITER))
        assert resp.status == 400 and await error_of(resp) == "image is required"
        resp = await client.post(URL, data="form=x", headers={
            **bearer(WRITER), "Content-Type": "application/x-www-form-urlencoded"})
        assert resp.status == 415
        resp = await client.post(URL, data="{not json", headers={
            **bearer(WRITER), "Content-Type": "application/json"})
        assert resp.status == 400
        big = json.dumps({"manifest": "x" * MAX_BODY_BYTES})
        resp = await client.post(URL, data=big, headers={
            **bearer(WRITER), "Content-Type": "application/json"})
        assert resp.status == 413
        assert world.kube.writes == []
        assert not any(r["spec"]["resourceAttributes"]["verb"] == "create"
                       for r in world.kube.access_reviews)

    run(world, check)


def test_the_new_task_page_is_a_shell_with_both_forms() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        resp = await client.get("/tasks/new")
        assert resp.status == 200
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        html = await resp.text()
        assert 'data-view="new"' in html and 'id="new-task"' in html
        assert 'id="new-manifest"' in html and 'name="displayName"' in html
        assert html.count("<script") == 1 and "style=" not in html
        assert '<a href="/tasks/new" aria-current="page">New task</a>' in html

    run(World(), check)
