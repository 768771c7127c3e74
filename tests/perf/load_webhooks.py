"""Load: signed webhook deliveries at a fixed rate, beside direct API writes of the same
AgentTasks at the same rate, and a sweep over rates.

Open loop: requests leave on schedule whatever the answers, as real senders would, from the
same sender for both sides (tests/perf/loadgen.py). A delivery's task is one write (its
payload rides in the task), so the baseline writes each delivery's task body, built by the
operator's own build_delivery_task, straight to the API server: same objects, same rate,
owned by a twin trigger in a second namespace that the same operator watches (and decides,
as it decides the deliveries' tasks). Tasks are created paused so the figure is about the
endpoint, not running pods. After each run the benchmark waits until the operator has
decided every task of it, so that no run inherits the previous one's backlog.

The sweep runs both at each of ``BENCH_SWEEP_RATES`` for ``BENCH_SWEEP_SECONDS`` and reports
the highest rate up to which the webhook's p99 stayed within 2x the direct writes' p99
(stats.highest_within), and the highest rate each side sustained with its p99 within
``BENCH_SWEEP_P99_BOUND`` and no error (stats.highest_sustained).

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
from datetime import UTC, datetime
from typing import Any

import aiohttp

from agenttasks.api.crd import all_crds
from agenttasks.api.meta import GROUP, VERSION
from agenttasks.core.payload import env_values
from agenttasks.core.triggers import TriggerFacts, delivery_task_names
from agenttasks.kube.connection import Connection
from agenttasks.kube.crds import apply_crds
from agenttasks.manifests.triggers import build_delivery_task, trigger_facts
from tests.integration.harness import Api, Operator, pod_template, provide_cluster, wait_for
from tests.perf.loadgen import (
    OPEN_LOOP_CONNECTIONS,
    LoadResult,
    count_objects,
    open_loop,
    post_json,
    tasks_path,
    wait_settled,
    warm_up,
)
from tests.perf.stats import highest_sustained as sustained_up_to
from tests.perf.stats import highest_within, percentile, ratio, rounded, within_factor


def _rates(text: str) -> list[float]:
    return sorted({float(r) for r in text.replace(" ", "").split(",") if r and float(r) > 0})


RATE = float(os.environ.get("BENCH_WEBHOOK_RATE", "200"))
SECONDS = float(os.environ.get("BENCH_WEBHOOK_SECONDS", "30"))
TRIGGERS = int(os.environ.get("BENCH_WEBHOOK_TRIGGERS", "20"))
SWEEP_RATES = _rates(os.environ.get("BENCH_SWEEP_RATES", "25,50,100,200,400"))
SWEEP_SECONDS = float(os.environ.get("BENCH_SWEEP_SECONDS", "10"))
SWEEP_BOUND = float(os.environ.get("BENCH_SWEEP_P99_BOUND", "1.0"))
SWEEP_FACTOR = 2.0
SETTLE_TIMEOUT = 180.0
KEY = b"load-test-key-0123456789abcdef!!"


def signed(msg_id: str, body: bytes) -> dict[str, str]:
    """standard-webhooks headers for ``body``, signed now."""
    ts = str(int(time.time()))
    mac = hmac.new(KEY, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {"webhook-id": msg_id, "webhook-timestamp": ts,
            "webhook-signature": "v1," + base64.b64encode(mac).decode(),
            "Content-Type": "application/json"}


def _trigger(t: int) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTaskTrigger",
            "metadata": {"name": f"t{t}"},
            "spec": {"secretRef": {"name": "hook", "key": "key"},
                     "rateLimit": {"perMinute": 100_000},
                     "taskTemplate": {"spec": {"paused": True, "template": pod_template()}}}}


def _ready(api: Api, ns: str, name: str) -> bool:
    body = api.custom.get_namespaced_custom_object(GROUP, VERSION, ns, "agenttasktriggers",
                                                   name)
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


class HookBench:
    """Two namespaces with the same triggers, one operator watching both: deliveries go to
    the first, the direct writes of the same tasks to the second."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.hooks_ns = api.create_namespace("bench-hooks")
        self.direct_ns = api.create_namespace("bench-hooks-direct")
        self.direct_triggers: list[TriggerFacts] = []
        for ns in (self.hooks_ns, self.direct_ns):
            api.core.create_namespaced_secret(ns, {"metadata": {"name": "hook"}, "stringData": {
                "key": "whsec_" + base64.b64encode(KEY).decode()}})
            for t in range(TRIGGERS):
                api.custom.create_namespaced_custom_object(GROUP, VERSION, ns,
                                                           "agenttasktriggers", _trigger(t))
        self.operator = Operator(api.kubeconfig, [self.hooks_ns, self.direct_ns],
                                 "bench-webhooks").start()
        for ns in (self.hooks_ns, self.direct_ns):
            wait_for(lambda ns=ns: all(_ready(api, ns, f"t{t}") for t in range(TRIGGERS))
                     or None, 60, what=f"triggers ready in {ns}")
        self.direct_triggers = [trigger_facts(api.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.direct_ns, "agenttasktriggers", f"t{t}"))
            for t in range(TRIGGERS)]
        self.runs = 0
        self.created = {self.hooks_ns: 0, self.direct_ns: 0}

    def close(self) -> None:
        self.operator.stop()

    def _payloads(self, count: int) -> tuple[str, list[tuple[str, bytes]]]:
        self.runs += 1
        run = f"r{self.runs}"
        return run, [(f"load-{run}-{i}", json.dumps({"event": "load", "run": run,
                                                     "sequence": i}).encode())
                     for i in range(count)]

    def deliveries(self, rate: float, seconds: float) -> LoadResult:
        """Signed deliveries to the operator's /hooks/, over the triggers in turn."""
        _run, payloads = self._payloads(int(rate * seconds))
        url = f"http://127.0.0.1:{self.operator.port}/hooks/{self.hooks_ns}"
        prepared = [(f"{url}/t{i % TRIGGERS}", body, signed(msg_id, body))
                    for i, (msg_id, body) in enumerate(payloads)]

        async def go() -> LoadResult:
            connector = aiohttp.TCPConnector(limit=OPEN_LOOP_CONNECTIONS)
            timeout = aiohttp.ClientTimeout(total=60)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

                async def send(i: int) -> int:
                    target, body, headers = prepared[i]
                    async with session.post(target, data=body, headers=headers) as response:
                        await response.read()
                        return response.status

                await warm_up(session, f"http://127.0.0.1:{self.operator.port}/healthz")
                return await open_loop(rate, len(prepared), send)

        result = asyncio.run(go())
        self._settle(self.hooks_ns, result.statuses.get(202, 0))
        return result

    def direct(self, rate: float, seconds: float) -> LoadResult:
        """The same tasks the deliveries make, created straight at the API server."""
        _run, payloads = self._payloads(int(rate * seconds))
        now = datetime.now(UTC)
        bodies = []
        for i, (msg_id, body) in enumerate(payloads):
            trigger = self.direct_triggers[i % TRIGGERS]
            assert trigger.spec is not None
            name = delivery_task_names(trigger, msg_id, hashlib.sha256(body).hexdigest(),
                                       now)[0]
            env = env_values(json.loads(body), trigger.spec.params)
            bodies.append(json.dumps(build_delivery_task(trigger, name, msg_id, env,
                                                         body.decode())).encode())

        async def go() -> LoadResult:
            connection = Connection(self.api.kubeconfig, limit=OPEN_LOOP_CONNECTIONS,
                                    timeout=60)
            session = await connection.session()
            url = connection.host + tasks_path(self.direct_ns)
            try:
                await warm_up(session, f"{url}?limit=1")
                return await open_loop(rate, len(bodies),
                                       lambda i: post_json(session, url, bodies[i]))
            finally:
                await connection.close()

        result = asyncio.run(go())
        self._settle(self.direct_ns, result.statuses.get(201, 0))
        return result

    def _settle(self, ns: str, created: int) -> None:
        """Until the operator has decided (Paused) every task of the namespace so far."""
        self.created[ns] += created
        self.last_settle_s = wait_settled(self.operator.port, ns, "Paused", self.created[ns],
                                          SETTLE_TIMEOUT)

    def tasks(self, ns: str) -> int:
        return count_objects(self.api.kubeconfig, tasks_path(ns))


def run_webhook_load(api: Api, bench: HookBench | None = None) -> dict[str, Any]:
    """RATE for SECONDS: direct writes, then deliveries; p50/p99 of each."""
    own = bench is None
    bench = bench or HookBench(api)
    try:
        direct = bench.direct(RATE, SECONDS)
        direct_settle = bench.last_settle_s
        hooks = bench.deliveries(RATE, SECONDS)
        hooks_settle = bench.last_settle_s
        tasks = bench.tasks(bench.hooks_ns)
    finally:
        if own:
            bench.close()
    accepted = hooks.statuses.get(202, 0)
    p99, direct_p99 = percentile(hooks.latencies, 99), percentile(direct.latencies, 99)
    return {
        "webhook_rate_per_s": RATE, "webhook_seconds": SECONDS, "webhook_triggers": TRIGGERS,
        **hooks.figures("webhook", ok=202),
        "webhook_accepted": accepted,
        "webhook_tasks_created": tasks,
        "webhook_tasks_equal_accepted": tasks == accepted,
        "webhook_operator_caught_up_s": round(hooks_settle, 1),
        **direct.figures("webhook_direct", ok=201),
        "webhook_direct_operator_caught_up_s": round(direct_settle, 1),
        "webhook_p99_vs_direct_ratio": rounded(ratio(p99, direct_p99), 2),
    }


def run_sweep(api: Api, bench: HookBench | None = None) -> dict[str, Any]:
    """Each of SWEEP_RATES for SWEEP_SECONDS, direct writes then deliveries."""
    own = bench is None
    bench = bench or HookBench(api)
    rows, hooks_points, direct_points = [], [], []
    try:
        for rate in SWEEP_RATES:
            direct = bench.direct(rate, SWEEP_SECONDS)
            hooks = bench.deliveries(rate, SWEEP_SECONDS)
            hp, dp = hooks.point(ok=202), direct.point(ok=201)
            hooks_points.append(hp)
            direct_points.append(dp)
            rows.append({
                "rate_per_s": rate,
                "webhook_p50_s": rounded(percentile(hooks.latencies, 50), 4),
                "webhook_p99_s": rounded(hp.p99_s, 4), "webhook_errors": hp.errors,
                "webhook_achieved_per_s": round(hp.achieved_rate, 1),
                "direct_p50_s": rounded(percentile(direct.latencies, 50), 4),
                "direct_p99_s": rounded(dp.p99_s, 4), "direct_errors": dp.errors,
                "direct_achieved_per_s": round(dp.achieved_rate, 1),
                "p99_ratio": rounded(ratio(hp.p99_s, dp.p99_s), 2),
                "within_2x": within_factor(hp, dp, SWEEP_FACTOR),
            })
            print(f"  sweep {rate:g}/s: webhook p99 {rows[-1]['webhook_p99_s']}s "
                  f"({hp.errors} errors), direct p99 {rows[-1]['direct_p99_s']}s "
                  f"({dp.errors} errors)", flush=True)
    finally:
        if own:
            bench.close()
    return {
        "webhook_sweep_seconds": SWEEP_SECONDS,
        "webhook_sweep_p99_bound_s": SWEEP_BOUND,
        "webhook_sweep": rows,
        "webhook_sweep_highest_within_2x_per_s": highest_within(hooks_points, direct_points,
                                                                SWEEP_FACTOR),
        "webhook_sweep_highest_sustained_per_s": sustained_up_to(hooks_points, SWEEP_BOUND),
        "direct_sweep_highest_sustained_per_s": sustained_up_to(direct_points, SWEEP_BOUND),
    }


def webhook_figures(api: Api) -> dict[str, Any]:
    """What `make bench` reports: the run at RATE and, with SWEEP_RATES, the sweep."""
    results: dict[str, Any] = {}
    bench = HookBench(api)
    try:
        if RATE:
            print(f"webhooks: {RATE:g}/s for {SECONDS:g}s over {TRIGGERS} triggers, and the "
                  "same tasks written directly at the same rate …", flush=True)
            results.update(run_webhook_load(api, bench))
            print(f"  p99 {results['webhook_p99_s']}s, direct "
                  f"{results['webhook_direct_p99_s']}s", flush=True)
        if SWEEP_RATES:
            print(f"webhook sweep: {', '.join(f'{r:g}' for r in SWEEP_RATES)}/s, "
                  f"{SWEEP_SECONDS:g}s each …", flush=True)
            results.update(run_sweep(api, bench))
    finally:
        bench.close()
    return results


def main() -> int:
    with provide_cluster(".cluster-bench") as kubeconfig:
        api = Api(kubeconfig)
        apply_crds(api.kubeconfig, all_crds())
        for key, value in webhook_figures(api).items():
            print(f"{key:40} {value!s:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
