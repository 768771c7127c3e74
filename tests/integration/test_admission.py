"""The validating admission webhook, called by the real kube-apiserver over HTTPS on
127.0.0.1, refuses at `kubectl apply` what CEL cannot check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from agenttasks.api.meta import GROUP, VERSION

from .admission_webhook import admission_operator
from .harness import Api, kubectl, pod_template, wait_for


@pytest.fixture
def webhook(api: Api, own_ns: str, tmp_path: Path) -> Iterator[str]:
    """An operator serving admission on 127.0.0.1, and a webhook configuration for own_ns."""
    with admission_operator(api, own_ns, tmp_path, "admission") as namespace:
        yield namespace


def apply(api: Api, ns: str, body: dict[str, object]) -> tuple[int, str]:
    result = kubectl(api.kubeconfig, "apply", "-n", ns, "-f", "-",
                     stdin=yaml.safe_dump(body), check=False)
    return result.returncode, result.stderr


def schedule(name: str, cron: str, zone: str = "UTC") -> dict[str, object]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTaskSchedule",
            "metadata": {"name": name},
            "spec": {"schedule": cron, "timeZone": zone,
                     "taskTemplate": {"spec": {"template": pod_template()}}}}


def test_bad_cron_and_zone_are_refused_at_apply(api: Api, webhook: str) -> None:
    code, err = apply(api, webhook, schedule("bad-cron", "61 * * * *"))
    assert code != 0 and "spec.schedule" in err and "denied the request" in err
    code, err = apply(api, webhook, schedule("bad-zone", "0 2 * * *", "Mars/Olympus_Mons"))
    assert code != 0 and "spec.timeZone" in err
    code, err = apply(api, webhook, schedule("good", "0 2 * * *", "America/New_York"))
    assert code == 0, err


def test_dependency_cycle_is_refused_at_apply(api: Api, webhook: str) -> None:
    def task(name: str, deps: list[str]) -> dict[str, object]:
        return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTask",
                "metadata": {"name": name},
                "spec": {"dependsOn": deps, "template": pod_template()}}

    assert apply(api, webhook, task("a", ["b"]))[0] == 0
    wait_for(lambda: api.status(webhook, "a").get("phase"), 20, what="a seen by the operator")
    code, err = apply(api, webhook, task("b", ["a"]))
    assert code != 0 and "cycle" in err and "b -> a -> b" in err


def test_bad_trigger_filter_is_refused_at_apply(api: Api, webhook: str) -> None:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTaskTrigger",
            "metadata": {"name": "t"},
            "spec": {"secretRef": {"name": "s", "key": "k"}, "filter": "body.action ==",
                     "taskTemplate": {"spec": {"template": pod_template()}}}}
    code, err = apply(api, webhook, body)
    assert code != 0 and "spec.filter" in err
