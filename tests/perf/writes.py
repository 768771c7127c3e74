"""API writes counted by the kube-apiserver itself (`apiserver_request_total`), so that the
figure includes every writer: the operator, the Job controller, the scheduler and kwok."""

from __future__ import annotations

import asyncio
import re
from collections import Counter

from agenttasks.kube.connection import Connection
from tests.integration.harness import Api

WRITE_VERBS = {"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"}
_SAMPLE = re.compile(r'^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$')
_LABEL = re.compile(r'(\w+)="([^"]*)"')


async def _metrics(kubeconfig: str) -> str:
    connection = Connection(kubeconfig)
    try:
        session = await connection.session()
        async with session.get(f"{connection.host}/metrics") as response:
            response.raise_for_status()
            return await response.text()
    finally:
        await connection.close()


def write_counts(api: Api) -> Counter[str]:
    """Writes so far, by resource (with its subresource), from the API server's /metrics."""
    counts: Counter[str] = Counter()
    for line in asyncio.run(_metrics(api.kubeconfig)).splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        if labels.get("verb") in WRITE_VERBS:
            resource = labels.get("resource", "")
            if labels.get("subresource"):
                resource += "/" + labels["subresource"]
            counts[resource] += int(float(match["value"]))
    return counts


def writes_per_task(baseline: Counter[str], tasks: Counter[str], count: int) -> dict[str, float]:
    """Writes per AgentTask lifecycle against one bare Job's create: everything the bare-Job
    run wrote beyond its own Job creates (the Job controller's, kwok's) happens in both runs,
    so it is subtracted; what is left is the user's create plus the operator's writes."""
    extra = {resource: (tasks[resource] - baseline[resource]) / count
             for resource in set(tasks) | set(baseline)}
    total = 1 + sum(extra.values())
    return {"writes_per_task": round(total, 2),
            **{f"writes_per_task_extra_{resource.replace('/', '_')}": round(value, 2)
               for resource, value in sorted(extra.items()) if abs(value) >= 0.05}}


def writes_by_kind(baseline: Counter[str], tasks: Counter[str], count: int
                   ) -> dict[str, dict[str, float]]:
    """Per resource (with its subresource): writes per task of the AgentTasks run, per Job
    of the bare-Job run, and the difference (what writes_per_task adds up)."""
    return {resource: {"agenttasks_run": round(tasks[resource] / count, 2),
                       "bare_jobs_run": round(baseline[resource] / count, 2),
                       "extra": round((tasks[resource] - baseline[resource]) / count, 2)}
            for resource in sorted(set(tasks) | set(baseline))
            if tasks[resource] or baseline[resource]}


def breakdown_rows(by_kind: dict[str, dict[str, float]]) -> list[tuple[str, str, str, str]]:
    """The table of writes_by_kind, largest extra first, hiding kinds under 0.005 a task."""
    rows = sorted(by_kind.items(), key=lambda item: (-abs(item[1]["extra"]), item[0]))
    return [(resource, f"{v['agenttasks_run']:g}", f"{v['bare_jobs_run']:g}", f"{v['extra']:+g}")
            for resource, v in rows
            if max(abs(v["agenttasks_run"]), abs(v["bare_jobs_run"])) >= 0.005]
