"""The inputs document a dependent's pods read: its fields, its order and its size bound."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agenttasks import progress as helper
from agenttasks.api.task import AgentTaskSpec
from agenttasks.core.pipelines import INPUTS_MAX_BYTES, DependencyResult, inputs_document
from agenttasks.manifests.jobs import (
    ANNOTATION_INPUTS,
    INPUTS_DIR,
    INPUTS_FILE,
    INPUTS_VOLUME,
    build_job,
)
from agenttasks.manifests.tasks import dependency_result
from tests.downward import annotation_files, env_of
from tests.unit.test_lifecycle import task


def _size(text: str) -> int:
    return len(text.encode())


def _escaped(text: str) -> int:
    return _size(json.dumps(text, ensure_ascii=False)) - 2


def test_each_dependency_in_order_with_its_phase_reason_and_result() -> None:
    document = inputs_document([
        DependencyResult("transform", "Completed", "Succeeded", 2, "s3://b/orders.parquet"),
        DependencyResult("extract", "Completed", "Succeeded", None),
        DependencyResult("gone")])
    assert json.loads(document) == [
        {"name": "transform", "phase": "Completed", "reason": "Succeeded",
         "result": {"attempt": 2, "message": "s3://b/orders.parquet"}},
        {"name": "extract", "phase": "Completed", "reason": "Succeeded", "result": None},
        {"name": "gone", "phase": None, "reason": None, "result": None}]


def test_a_name_given_twice_is_one_entry_where_it_first_came() -> None:
    document = inputs_document([DependencyResult("a", "Completed", "Succeeded", 1, "x"),
                                DependencyResult("b"), DependencyResult("a")])
    assert [e["name"] for e in json.loads(document)] == ["a", "b"]
    assert json.loads(document)[0]["result"] == {"attempt": 1, "message": "x"}


def test_messages_are_kept_whole_and_unescaped_text_when_they_fit() -> None:
    message = "naïve \"quoted\"\nline two €"
    document = inputs_document([DependencyResult("a", "Completed", "Succeeded", 1, message)])
    assert json.loads(document)[0]["result"] == {"attempt": 1, "message": message}
    assert "€" in document  # UTF-8 as it is, not \\u escapes that would take 6 bytes


def test_fifteen_full_termination_messages_fit_whole() -> None:
    deps = [DependencyResult(f"{i:02}".ljust(63, "x"), "Completed", "PartiallySucceeded", 20,
                             "x" * 4096) for i in range(15)]
    document = inputs_document(deps)
    assert _size(document) <= INPUTS_MAX_BYTES
    assert all("truncated" not in e["result"] for e in json.loads(document))


def test_beyond_the_bound_the_huge_result_is_cut_and_says_so() -> None:
    small = [DependencyResult(f"small-{i}", "Completed", "Succeeded", 1, "s" * 4000)
             for i in range(14)]
    huge = DependencyResult("huge", "Completed", "Succeeded", 3, "€" * 4096)  # 12 KiB
    document = inputs_document([*small, huge])
    assert _size(document) <= INPUTS_MAX_BYTES
    entries = json.loads(document)
    assert [e["result"]["message"] for e in entries[:14]] == ["s" * 4000] * 14
    cut = entries[14]
    assert (cut["name"], cut["phase"], cut["reason"]) == ("huge", "Completed", "Succeeded")
    assert cut["result"]["attempt"] == 3
    assert cut["result"]["truncated"] is True
    assert cut["result"]["messageBytes"] == 3 * 4096
    assert 0 < len(cut["result"]["message"]) < 4096
    assert huge.message.startswith(cut["result"]["message"])
    assert _size(document) > INPUTS_MAX_BYTES - 64  # what is left is used, not wasted


def test_equal_messages_are_cut_to_equal_shares() -> None:
    deps = [DependencyResult(f"d{i}", "Completed", "Succeeded", 1, "y" * 4096)
            for i in range(20)]
    entries = json.loads(inputs_document(deps))
    kept = {len(e["result"]["message"]) for e in entries}
    assert len(kept) == 1 and 0 < kept.pop() < 4096
    assert all(e["result"]["truncated"] for e in entries)


def test_metadata_is_never_cut_even_when_it_alone_is_over_the_bound() -> None:
    deps = [DependencyResult(f"task-{i:03}", "Completed", "Succeeded", 1, "z" * 100)
            for i in range(64)]
    entries = json.loads(inputs_document(deps, max_bytes=1000))
    assert [e["name"] for e in entries] == [f"task-{i:03}" for i in range(64)]
    assert all(e["result"] == {"attempt": 1, "message": "", "truncated": True,
                               "messageBytes": 100} for e in entries)


def test_a_cut_never_splits_a_character_or_an_escape() -> None:
    deps = [DependencyResult("a", "Completed", "Succeeded", 1, "\"\n😀" * 1000)]
    document = inputs_document(deps, max_bytes=500)
    assert _size(document) <= 500
    message = json.loads(document)[0]["result"]["message"]
    assert deps[0].message.startswith(message) and message


_names = st.text("abcdefghij-", min_size=1, max_size=12)
_messages = st.text(st.characters(codec="utf-8"), max_size=300)
_deps = st.lists(st.builds(DependencyResult, _names, st.sampled_from(["Completed", None]),
                           st.just("Succeeded"), st.one_of(st.none(), st.integers(1, 20)),
                           _messages), max_size=12)


@settings(max_examples=300, deadline=None)
@given(_deps, st.integers(0, 4000))
def test_the_bound_holds_metadata_stays_and_cuts_are_fair_prefixes(
        deps: list[DependencyResult], max_bytes: int) -> None:
    document = inputs_document(deps, max_bytes=max_bytes)
    entries = json.loads(document)
    first = {}
    for dep in deps:
        first.setdefault(dep.name, dep)
    assert [e["name"] for e in entries] == list(first)
    bare = inputs_document([DependencyResult(d.name, d.phase, d.reason, d.attempt)
                            for d in first.values()])
    markers = len(',"truncated":true,"messageBytes":') + 10
    if _size(bare) + markers * sum(d.attempt is not None for d in first.values()) <= max_bytes:
        assert _size(document) <= max_bytes
    whole, cut = [], []
    for entry, dep in zip(entries, first.values(), strict=True):
        assert (entry["phase"], entry["reason"]) == (dep.phase, dep.reason)
        result = entry["result"]
        if dep.attempt is None:
            assert result is None
            continue
        assert result["attempt"] == dep.attempt
        assert dep.message.startswith(result["message"])
        if result.get("truncated"):
            assert len(result["message"]) < len(dep.message)
            assert result["messageBytes"] == _size(dep.message)
            cut.append(_escaped(result["message"]))
        else:
            assert result["message"] == dep.message and "messageBytes" not in result
            whole.append(_escaped(dep.message))
    if cut and whole:  # max-min: nothing kept whole is larger than what a cut one keeps
        assert max(whole) <= min(cut) + 5  # (+5: the character that no longer fitted)
    if not cut:
        assert document == inputs_document(deps, max_bytes=10**9)


# --- the file in the Job's pods, and the agent's helper that reads it ---------------------

def _spec(**template: Any) -> AgentTaskSpec:
    return AgentTaskSpec.model_validate({"dependsOn": ["extract"], "template": {
        "spec": {"initContainers": [{"name": "setup", "image": "x"}],
                 "containers": [{"name": "agent", "image": "x"}]}, **template}})


def _as_the_pod_sees_it(job: dict[str, Any], container: str, root: Path,
                        monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, object]]:
    """The container's files written under ``root`` and its AGENTTASK_INPUTS pointing there,
    read by agenttasks.progress.inputs() as an agent would."""
    template = job["spec"]["template"]
    for path, text in annotation_files(template, container).items():
        (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / path.lstrip("/")).write_text(text)
    path = env_of(template, container)[helper.INPUTS_ENV]
    monkeypatch.setenv(helper.INPUTS_ENV, str(root / path.lstrip("/")))
    return helper.inputs()


def test_the_jobs_pods_read_the_document_from_the_file_their_variable_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = inputs_document([DependencyResult("extract", "Completed", "Succeeded", 1,
                                                 "s3://b/raw/2026-12-01/")])
    job = build_job(task(), _spec(), 1, "t-1", inputs=document)
    template = job["spec"]["template"]
    assert template["metadata"]["annotations"][ANNOTATION_INPUTS] == document
    for container in ("setup", "agent"):
        assert annotation_files(template, container) == {
            "/var/run/agenttask-inputs/inputs.json": document}
        assert env_of(template, container)[helper.INPUTS_ENV] == \
            "/var/run/agenttask-inputs/inputs.json"
    seen = _as_the_pod_sees_it(job, "agent", tmp_path, monkeypatch)
    assert seen == {"extract": {"name": "extract", "phase": "Completed", "reason": "Succeeded",
                                "result": {"attempt": 1, "message": "s3://b/raw/2026-12-01/"}}}


def test_the_operators_file_replaces_a_templates_volume_mount_and_variable_of_its_names(
) -> None:
    spec = AgentTaskSpec.model_validate({"dependsOn": ["a"], "template": {
        "metadata": {"annotations": {ANNOTATION_INPUTS: "forged", "keep": "me"}},
        "spec": {"volumes": [{"name": INPUTS_VOLUME, "emptyDir": {}},
                             {"name": "data", "emptyDir": {}}],
                 "containers": [{"name": "agent", "image": "x",
                                 "env": [{"name": helper.INPUTS_ENV, "value": "/tmp/x"}],
                                 "volumeMounts": [
                                     {"name": INPUTS_VOLUME, "mountPath": "/elsewhere"},
                                     {"name": "data", "mountPath": INPUTS_DIR + "/"},
                                     {"name": "data", "mountPath": "/data"}]}]}}})
    job = build_job(task(), spec, 1, "t-1", inputs="[]")
    template = job["spec"]["template"]
    assert template["metadata"]["annotations"] == {ANNOTATION_INPUTS: "[]", "keep": "me"}
    assert [v["name"] for v in template["spec"]["volumes"]] == ["data", INPUTS_VOLUME]
    [agent] = template["spec"]["containers"]
    assert [(m["name"], m["mountPath"]) for m in agent["volumeMounts"]] == [
        ("data", "/data"), (INPUTS_VOLUME, INPUTS_DIR)]
    assert [e for e in agent["env"] if e["name"] == helper.INPUTS_ENV] == [
        {"name": helper.INPUTS_ENV, "value": f"{INPUTS_DIR}/{INPUTS_FILE}"}]


def test_a_task_without_dependencies_gets_no_file() -> None:
    spec = AgentTaskSpec.model_validate({"template": {"spec": {"containers": [
        {"name": "agent", "image": "x"}]}}})
    template = build_job(task(), spec, 1, "t-1")["spec"]["template"]
    assert ANNOTATION_INPUTS not in (template["metadata"].get("annotations") or {})
    assert "volumes" not in template["spec"]
    assert helper.INPUTS_ENV not in env_of(template, "agent")


def test_inputs_is_empty_outside_the_operator_and_for_an_unreadable_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(helper.INPUTS_ENV, raising=False)
    assert helper.inputs() == {}
    monkeypatch.setenv(helper.INPUTS_ENV, str(tmp_path / "missing.json"))
    assert helper.inputs() == {}
    (tmp_path / "bad.json").write_text("{not json")
    monkeypatch.setenv(helper.INPUTS_ENV, str(tmp_path / "bad.json"))
    assert helper.inputs() == {}
    (tmp_path / "object.json").write_text('{"name": "a"}')
    monkeypatch.setenv(helper.INPUTS_ENV, str(tmp_path / "object.json"))
    assert helper.inputs() == {}


def test_a_dependency_is_read_from_its_object_or_told_as_gone() -> None:
    body = {"status": {"phase": "Completed", "reason": "Succeeded",
                       "result": {"attempt": 2, "message": "done"}}}
    assert dependency_result("a", body) == DependencyResult("a", "Completed", "Succeeded", 2,
                                                            "done")
    assert dependency_result("a", {"status": {"phase": "Completed"}}) == \
        DependencyResult("a", "Completed")
    assert dependency_result("a", None) == DependencyResult("a")
    assert dependency_result("a", {"status": {"phase": "Nonsense"}}) == DependencyResult("a")
