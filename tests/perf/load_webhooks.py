"""Load: signed webhook deliveries at a fixed rate, spread over many triggers.

Open loop: requests leave on schedule whatever the answers, as real senders would. Prints
accepted and failed counts, p50/p99 latency, and the tasks created (which must equal the
accepted). Tasks are created paused so the figure is about the endpoint, not running pods.
Run alone with `python -m tests.perf.load_webhooks`, or as part of `make bench`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from collections import Counter
from typing import Any

import aiohttp

from agenttasks.api.crd import all_crds
from agenttasks.api.meta import GROUP, VERSION
from agenttasks.kube.crds import apply_crds
from agenttasks.kube.watching import Connection
from tests.integration.harness import Api, Operator, pod_template, provide_cluster, wait_for

RATE = float(os.environ.get("BENCH_WEBHOOK_RATE", "200"))
SECONDS = float(os.environ.get("BENCH_WEBHOOK_SECONDS", "30"))
TRIGGERS = int(os.environ.get("BENCH_WEBHOOK_TRIGGERS", "20"))
KEY = b"load-test-key-0123456789abcdef!!"


def _signed(i: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"event": "load", "sequence": i}).encode()
    msg_id, ts = f"load-{i}", str(int(time.time()))
    mac = hmac.new(KEY, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return body, {"webhook-id": msg_id, "webhook-timestamp": ts,
                  "webhook-signature": "v1," + base64.b64encode(mac).decode(),
                  "Content-Type": "application/json"}


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if values else 0


async def _send_all(port: int, ns: str) -> tuple[Counter[int], list[float]]:
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    total = int(RATE * SECONDS)

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        body, headers = _signed(i)
        started = time.monotonic()
        try:
            async with session.post(f"http://127.0.0.1:{port}/hooks/{ns}/t{i % TRIGGERS}",
                                    data=body, headers=headers) as response:
                await response.read()
                statuses[response.status] += 1
        except aiohttp.ClientError:
            statuses[0] += 1
        latencies.append(time.monotonic() - started)

    connector = aiohttp.TCPConnector(limit=1000)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.monotonic()
        pending = []
        for i in range(total):
            await asyncio.sleep(max(0.0, start + i / RATE - time.monotonic()))
            pending.append(asyncio.create_task(one(session, i)))
        await asyncio.gather(*pending)
    return statuses, latencies


async def _direct_writes(kubeconfig: str, ns: str) -> tuple[Counter[int], list[float]]:
    """The baseline: the same two writes per delivery (the task and its payload ConfigMap)
    sent straight to the API server at the same rate, with no operator in between."""
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    total = int(RATE * SECONDS)
    connection = Connection(kubeconfig)
    session = await connection.session()
    base = f"{connection.host}/apis/{GROUP}/{VERSION}/namespaces/{ns}/agenttasks"
    maps = f"{connection.host}/api/v1/namespaces/{ns}/configmaps"

    async def one(i: int) -> None:
        body, _headers = _signed(i)
        task = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTask",
                "metadata": {"name": f"direct-{i}"},
                "spec": {"paused": True, "template": pod_template()}}
        payload = {"metadata": {"name": f"direct-{i}-payload"},
                   "data": {"payload.json": body.decode()}}
        started = time.monotonic()
        try:
            async with session.post(base, json=task) as response:
                await response.read()
                status = response.status
            if status == 201:
                async with session.post(maps, json=payload) as response:
                    await response.read()
                    status = response.status
            statuses[202 if status == 201 else status] += 1
        except aiohttp.ClientError:
            statuses[0] += 1
        latencies.append(time.monotonic() - started)

    try:
        start = time.monotonic()
        pending = []
        for i in range(total):
            await asyncio.sleep(max(0.0, start + i / RATE - time.monotonic()))
            pending.append(asyncio.create_task(one(i)))
        await asyncio.gather(*pending)
    finally:
        await connection.close()
    return statuses, latencies


def run_direct_baseline(api: Api) -> dict[str, Any]:
    ns = api.create_namespace("bench-direct")
    try:
        statuses, latencies = asyncio.run(_direct_writes(api.kubeconfig, ns))
    finally:
        api.delete_namespace(ns)
    return {
        "webhook_baseline_direct_writes_p50_s": round(_percentile(latencies, 50), 3),
        "webhook_baseline_direct_writes_p99_s": round(_percentile(latencies, 99), 3),
        "webhook_baseline_direct_writes_errors": sum(v for k, v in statuses.items()
                                                     if k != 202),
    }


def run_webhook_load(api: Api) -> dict[str, Any]:
    baseline = run_direct_baseline(api)
    ns = api.create_namespace("bench-hooks")
    api.core.create_namespaced_secret(ns, {"metadata": {"name": "hook"}, "stringData": {
        "key": "whsec_" + base64.b64encode(KEY).decode()}})
    for t in range(TRIGGERS):
        api.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "agenttasktriggers", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTaskTrigger",
            "metadata": {"name": f"t{t}"},
            "spec": {"secretRef": {"name": "hook", "key": "key"},
                     "rateLimit": {"perMinute": 100_000},
                     "taskTemplate": {"spec": {"paused": True, "template": pod_template()}}}})
    operator = Operator(api.kubeconfig, [ns], "bench-webhooks").start()
    try:
        wait_for(lambda: all(_ready(api, ns, f"t{t}") for t in range(TRIGGERS)) or None, 60,
                 what="triggers ready")
        statuses, latencies = asyncio.run(_send_all(operator.port, ns))
        tasks = len(api.custom.list_namespaced_custom_object(
            GROUP, VERSION, ns, "agenttasks")["items"])
    finally:
        operator.stop()
        api.delete_namespace(ns)
    accepted = statuses.get(202, 0)
    return {
        "webhook_rate_per_s": RATE,
        "webhook_requests": sum(statuses.values()),
        "webhook_accepted": accepted,
        "webhook_errors": sum(v for k, v in statuses.items() if k != 202),
        "webhook_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "webhook_p50_s": round(_percentile(latencies, 50), 3),
        "webhook_p99_s": round(_percentile(latencies, 99), 3),
        "webhook_tasks_created": tasks,
        "webhook_tasks_equal_accepted": tasks == accepted,
        **baseline,
        "webhook_p99_vs_direct_writes_ratio": round(
            _percentile(latencies, 99) / baseline["webhook_baseline_direct_writes_p99_s"], 2),
    }


def _ready(api: Api, ns: str, name: str) -> bool:
    body = api.custom.get_namespaced_custom_object(GROUP, VERSION, ns, "agenttasktriggers",
                                                   name)
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def main() -> int:
    with provide_cluster(".cluster-bench") as kubeconfig:
        api = Api(kubeconfig)
        apply_crds(api.kubeconfig, all_crds())
        print(f"webhooks: {RATE:.0f}/s for {SECONDS:.0f}s over {TRIGGERS} triggers …",
              flush=True)
        for key, value in run_webhook_load(api).items():
            print(f"{key:32} {value!s:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
