"""Delivery task names (by id, or by the body's hash for github and hmac-sha256) and the
owner checks that decide whether a found object is the delivery's."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agenttasks.core.payload import task_name
from agenttasks.core.triggers import TriggerFacts, delivery_id_digest, delivery_task_names
from agenttasks.manifests.triggers import (
    LABEL_DELIVERY,
    build_delivery_task,
    build_payload_config_map,
    is_delivery_task_of,
    is_payload_of,
    trigger_facts,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
SHA = hashlib.sha256(b"{}").hexdigest()


def trigger(signature: str, uid: str = "trigger-uid") -> TriggerFacts:
    return trigger_facts({
        "metadata": {"namespace": "a", "name": "t", "uid": uid},
        "spec": {"secretRef": {"name": "s", "key": "k"}, "signature": signature,
                 "signatureHeader": "X-Sig", "dedupWindow": "10m",
                 "taskTemplate": {"spec": {"template": {"spec": {
                     "containers": [{"name": "c", "image": "busybox"}]}}}}}})


def test_standard_webhooks_tasks_are_named_by_the_signed_id() -> None:
    assert delivery_task_names(trigger("standard-webhooks"), "msg_1", SHA, NOW) == [
        task_name("t", "msg_1")]


@pytest.mark.parametrize("signature", ["github", "hmac-sha256"])
def test_github_and_hmac_tasks_are_named_by_the_body(signature: str) -> None:
    names = delivery_task_names(trigger(signature), "any-id", SHA, NOW)
    assert names == delivery_task_names(trigger(signature), "another-id", SHA, NOW)
    assert len(names) == 2 and names[0] != names[1]  # this window's bucket, and the last
    other = hashlib.sha256(b"[]").hexdigest()
    assert delivery_task_names(trigger(signature), "any-id", other, NOW)[0] != names[0]
    # A window later the previous bucket is this one.
    assert delivery_task_names(trigger(signature), "x", SHA, NOW + timedelta(minutes=10)
                               )[1] == names[0]


def test_hmac_names_are_unchanged_by_the_github_change() -> None:
    bucket = int(NOW.timestamp()) // 600
    assert delivery_task_names(trigger("hmac-sha256"), SHA, SHA, NOW)[0] == task_name(
        "t", f"{SHA}@{bucket}")


def test_delivery_tasks_carry_the_delivery_id_digest() -> None:
    task = build_delivery_task(trigger("github"), "t-1", "guid-1", {}, "{}")
    assert task["metadata"]["labels"][LABEL_DELIVERY] == delivery_id_digest("t", "guid-1")
    assert len(delivery_id_digest("t", "guid-1")) <= 63  # a label value
    assert delivery_id_digest("t", "guid-1") != delivery_id_digest("u", "guid-1")


def with_owner(body: dict[str, Any], uid: str, controller: bool = True) -> dict[str, Any]:
    body["metadata"]["ownerReferences"] = [{"uid": uid, "controller": controller}]
    return body


def test_a_task_is_the_triggers_only_when_controlled_by_its_uid() -> None:
    facts = trigger("github")
    ours = build_delivery_task(facts, "t-1", "guid-1", {}, "{}")
    assert is_delivery_task_of(ours, facts)
    labelled_only = with_owner(build_delivery_task(facts, "t-1", "guid-1", {}, "{}"),
                               "other")
    assert not is_delivery_task_of(labelled_only, facts)  # the label says t; the owner not
    not_controller = with_owner(build_delivery_task(facts, "t-1", "g", {}, "{}"),
                                "trigger-uid", controller=False)
    assert not is_delivery_task_of(not_controller, facts)
    no_owner = build_delivery_task(facts, "t-1", "g", {}, "{}")
    no_owner["metadata"].pop("ownerReferences")
    assert not is_delivery_task_of(no_owner, facts)
    assert not is_delivery_task_of(None, facts)
    assert not is_delivery_task_of(ours, trigger("github", uid=""))  # no uid matches nothing


def test_a_payload_is_the_tasks_only_when_controlled_by_its_uid() -> None:
    task = build_delivery_task(trigger("github"), "t-1", "g", {}, "{}")
    task["metadata"]["uid"] = "task-uid"
    payload = build_payload_config_map(task, "{}")
    assert is_payload_of(payload, task)
    assert not is_payload_of(with_owner(build_payload_config_map(task, "{}"), "old-task"),
                             task)
    squatter = {"metadata": {"name": "t-1-payload", "namespace": "a"}, "data": {}}
    assert not is_payload_of(squatter, task)
    assert not is_payload_of(None, task)
