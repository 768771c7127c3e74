"""spec.concurrency from the schema to the Job's label and back, and a trigger's $(param)
references filled from the payload."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from agenttasks.api.concurrency import LABEL_CONCURRENCY_KEY
from agenttasks.api.task import AgentTaskSpec
from agenttasks.api.trigger import AgentTaskTriggerSpec
from agenttasks.core.concurrency import expand_key, key_label, references
from agenttasks.core.payload import env_values
from agenttasks.core.queue import candidate_of
from agenttasks.manifests.jobs import build_job, job_facts
from agenttasks.manifests.triggers import build_delivery_task, trigger_facts
from tests.unit.test_lifecycle import task

POD = {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def test_the_job_carries_the_key_label_and_the_ledger_reads_it_back() -> None:
    facts = task(concurrency={"key": "customer: ACME", "limit": 2})
    assert facts.spec is not None
    body = build_job(facts, facts.spec, 1, "t-1")
    label = body["metadata"]["labels"][LABEL_CONCURRENCY_KEY]
    assert label == key_label("customer: ACME") and label.startswith("sha256.")
    assert LABEL_CONCURRENCY_KEY not in body["spec"]["template"]["metadata"]["labels"]
    body["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    read = job_facts(body)
    assert read is not None and read.concurrency_key == label
    queued = candidate_of(facts)
    assert queued.concurrency is not None
    assert (queued.concurrency.key, queued.concurrency.label, queued.concurrency.limit) == \
        ("customer: ACME", label, 2)


def test_no_key_no_label() -> None:
    facts = task()
    assert facts.spec is not None
    body = build_job(facts, facts.spec, 1, "t-1")
    assert LABEL_CONCURRENCY_KEY not in body["metadata"]["labels"]
    assert candidate_of(facts).concurrency is None


@pytest.mark.parametrize("concurrency", [
    {"key": ""}, {"key": " padded"}, {"key": "x" * 257}, {"key": "two\nlines"},
    {"key": "k", "limit": 0}, {"key": "k", "limit": 10_001}, {"limit": 1}])
def test_bad_keys_and_limits_are_refused(concurrency: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AgentTaskSpec.model_validate({"template": POD, "concurrency": concurrency})


def test_the_limit_defaults_to_one() -> None:
    spec = AgentTaskSpec.model_validate({"template": POD, "concurrency": {"key": "a b"}})
    assert spec.concurrency is not None and spec.concurrency.limit == 1


def test_expand_key() -> None:
    values = {"CUSTOMER": "acme", "REGION": "eu"}
    assert references("customer-$(CUSTOMER)/$(REGION)") == ["CUSTOMER", "REGION"]
    assert expand_key("customer-$(CUSTOMER)/$(REGION)", values) == "customer-acme/eu"
    assert expand_key("fixed", values) == "fixed"
    assert expand_key("$$(CUSTOMER) $(X", values) == "$acme $(X"
    # A result the schema refuses becomes a hash: the same values, the same key.
    for bad in ("", " acme", "x" * 300, "a\nb"):
        key = expand_key("$(V)", {"V": bad})
        assert key.startswith("sha256.") and key == expand_key("$(V)", {"V": bad})
    assert expand_key("$(MISSING)", {}) == expand_key("$(MISSING)", {"MISSING": ""})


def _trigger(key: str, params: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"namespace": "a", "name": "hook", "uid": "u"},
            "spec": {"secretRef": {"name": "s", "key": "k"}, "params": params,
                     "taskTemplate": {"spec": {"template": POD,
                                               "concurrency": {"key": key, "limit": 1}}}}}


def test_a_delivery_fills_the_key_from_the_payload_through_params() -> None:
    body = _trigger("customer-$(CUSTOMER)", {"CUSTOMER": "account.id"})
    trigger = trigger_facts(body)
    assert trigger.spec is not None
    env = env_values({"account": {"id": 42}}, trigger.spec.params)
    created = build_delivery_task(trigger, "hook-1", "d1", env, "{}")
    assert created["spec"]["concurrency"] == {"key": "customer-42", "limit": 1}
    assert trigger.task_template["spec"]["concurrency"]["key"] == "customer-$(CUSTOMER)", \
        "the trigger's own template is untouched"
    AgentTaskSpec.model_validate(created["spec"])


def test_a_key_may_refer_only_to_params() -> None:
    with pytest.raises(ValidationError, match=r"\$\(CUSTOMER\)"):
        AgentTaskTriggerSpec.model_validate(_trigger("c-$(CUSTOMER)", {"OTHER": "x"})["spec"])
    AgentTaskTriggerSpec.model_validate(_trigger("c-$(CUSTOMER)", {"CUSTOMER": "x"})["spec"])
