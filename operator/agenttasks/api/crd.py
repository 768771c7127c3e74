"""CustomResourceDefinitions generated from the models. `make crds` writes them to crds/
and to the chart; a test fails when either copy is stale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from agenttasks.api.meta import CATEGORY, GROUP, VERSION
from agenttasks.api.schedule import (
    AgentTaskScheduleSpec,
    AgentTaskScheduleStatus,
    schedule_name_rule,
)
from agenttasks.api.schema import structural_schema
from agenttasks.api.task import (
    DEPENDS_ON_ITEM_SCHEMA,
    AgentTaskSpec,
    AgentTaskStatus,
    task_name_rule,
)
from agenttasks.api.trigger import AgentTaskTriggerSpec, AgentTaskTriggerStatus, trigger_name_rule


def _column(name: str, path: str, kind: str = "string", priority: int = 0,
            description: str = "") -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": kind, "jsonPath": path}
    if priority:
        column["priority"] = priority
    if description:
        column["description"] = description
    return column


def _crd(kind: str, plural: str, short: str, spec: dict[str, Any], status: dict[str, Any],
         description: str, columns: list[dict[str, Any]],
         rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    root: dict[str, Any] = {
        "type": "object",
        "description": description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }
    if rules:
        root["x-kubernetes-validations"] = rules
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [short],
                "categories": [CATEGORY],
            },
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": root},
            }],
        },
    }


def agenttask_spec_schema() -> dict[str, Any]:
    spec = structural_schema(AgentTaskSpec)
    spec["properties"]["dependsOn"]["items"] = DEPENDS_ON_ITEM_SCHEMA
    spec["properties"]["template"]["type"] = "object"
    return spec


def agenttask_crd() -> dict[str, Any]:
    return _crd(
        "AgentTask", "agenttasks", "atask", agenttask_spec_schema(),
        structural_schema(AgentTaskStatus),
        "AgentTask is one unit of agent work. The operator runs it as one batch/v1 Job per "
        "attempt, with retries, timeouts, a deadline, pause and cancel.",
        [
            _column("Phase", ".status.phase"),
            _column("Priority", ".spec.priority", "integer"),
            _column("Attempts", ".status.attempts", "integer"),
            _column("Progress", ".status.progress.percent", "integer",
                    description="Percent of the current attempt's work done."),
            _column("Done", ".status.progress.items.done",
                    description="A batch's items succeeded / in all, over its attempts."),
            _column("Reason", ".status.reason"),
            _column("Age", ".metadata.creationTimestamp", "date"),
            _column("Display Name", ".spec.displayName"),
            _column("Job", ".status.jobName", priority=1),
        ],
        rules=[task_name_rule()],
    )


def _with_task_template(spec: dict[str, Any]) -> dict[str, Any]:
    """taskTemplate.spec validated exactly as an AgentTask's spec."""
    template = spec["properties"]["taskTemplate"]
    template["properties"]["spec"] = {**agenttask_spec_schema(),
                                      "description": template["properties"]["spec"].get(
                                          "description", "")}
    return spec


def schedule_crd() -> dict[str, Any]:
    spec = _with_task_template(structural_schema(AgentTaskScheduleSpec))
    return _crd(
        "AgentTaskSchedule", "agenttaskschedules", "atsched", spec,
        structural_schema(AgentTaskScheduleStatus),
        "AgentTaskSchedule creates AgentTasks on a cron schedule in a time zone, once per fire, "
        "with a concurrency policy and a history limit.",
        [
            _column("Schedule", ".spec.schedule"),
            _column("Time Zone", ".spec.timeZone"),
            _column("Suspend", ".spec.suspend", "boolean"),
            _column("Last Schedule", ".status.lastScheduleTime", "date"),
            _column("Next", ".status.nextScheduleTime", "string",
                    description="When the schedule fires next (UTC)."),
            _column("Age", ".metadata.creationTimestamp", "date"),
            _column("Ready", ".status.conditions[?(@.type=='Ready')].reason", priority=1),
        ],
        rules=[schedule_name_rule()],
    )


def trigger_crd() -> dict[str, Any]:
    spec = _with_task_template(structural_schema(AgentTaskTriggerSpec))
    return _crd(
        "AgentTaskTrigger", "agenttasktriggers", "attrig", spec,
        structural_schema(AgentTaskTriggerStatus),
        "AgentTaskTrigger creates an AgentTask for each authenticated webhook delivery, exactly "
        "once per delivery, with the payload mounted into the task's pod.",
        [
            _column("Signature", ".spec.signature"),
            _column("URL", ".status.url"),
            _column("Accepted", ".status.deliveries.accepted", "integer"),
            _column("Duplicate", ".status.deliveries.duplicate", "integer"),
            _column("Rejected", ".status.deliveries.rejected", "integer"),
            _column("Ready", ".status.conditions[?(@.type=='Ready')].reason"),
            _column("Age", ".metadata.creationTimestamp", "date"),
        ],
        rules=[trigger_name_rule()],
    )


def all_crds() -> list[dict[str, Any]]:
    return [agenttask_crd(), schedule_crd(), trigger_crd()]


def render(crd: dict[str, Any]) -> str:
    header = "# Generated from the pydantic models in operator/agenttasks/api by `make crds`.\n"
    return header + yaml.safe_dump(crd, sort_keys=False, width=100)


def expected_files() -> dict[str, str]:
    """File name → content, for every CRD."""
    return {f"{c['spec']['names']['plural']}.{GROUP}.yaml": render(c) for c in all_crds()}


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in expected_files().items():
        path = directory / name
        path.write_text(content)
        written.append(path)
    return written
