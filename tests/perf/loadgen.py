"""The benchmark's own writers: an open-loop sender (the same for webhook deliveries and for
the direct API writes they are compared with), bursts and bulk creates straight to the API
server over one aiohttp session, cheap counts, and the operator's /metrics."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from agenttasks.api.meta import GROUP, VERSION
from agenttasks.kube.connection import Connection
from tests.perf.stats import RatePoint, percentile

# Concurrent creates of a burst written by the benchmark itself: the operator's schedule
# workers at its default --workers 8 (SCHEDULE_WORKERS_FACTOR 4), so that a direct burst
# has the same parallelism as the fires it is compared with.
BURST_CONCURRENCY = 32
# Open-loop senders may have this many requests in flight (webhooks and direct alike).
OPEN_LOOP_CONNECTIONS = 1000


def tasks_path(namespace: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/agenttasks"


@dataclass
class LoadResult:
    """One open-loop run. Latencies are from each request's scheduled send time to its
    answer read, so that a sender running late shows in them (no coordinated omission)."""

    rate: float
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    send_lags: list[float] = field(default_factory=list)  # actual send - scheduled send
    span_s: float = 0.0  # first to last send

    @property
    def sent(self) -> int:
        return len(self.send_lags)

    @property
    def achieved_rate(self) -> float:
        """Requests per second as sent: the asked rate when every request left on time."""
        return self.sent / (self.span_s + 1 / self.rate) if self.sent and self.rate else 0.0

    def errors(self, ok: int) -> int:
        return sum(v for k, v in self.statuses.items() if k != ok)

    def point(self, ok: int) -> RatePoint:
        return RatePoint(rate=self.rate, p99_s=percentile(self.latencies, 99),
                         errors=self.errors(ok), sent=self.sent,
                         achieved_rate=self.achieved_rate)

    def figures(self, prefix: str, ok: int) -> dict[str, Any]:
        return {
            f"{prefix}_requests": self.sent,
            f"{prefix}_errors": self.errors(ok),
            f"{prefix}_statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            f"{prefix}_p50_s": _r(percentile(self.latencies, 50)),
            f"{prefix}_p99_s": _r(percentile(self.latencies, 99)),
            f"{prefix}_max_s": _r(max(self.latencies, default=float("nan"))),
            f"{prefix}_achieved_rate_per_s": _r(self.achieved_rate, 1),
            f"{prefix}_sender_lag_p99_s": _r(percentile(self.send_lags, 99)),
        }


def _r(value: float, digits: int = 4) -> float | None:
    return None if value != value else round(value, digits)  # NaN -> null


async def open_loop(rate: float, count: int, send: Callable[[int], Awaitable[int]]
                    ) -> LoadResult:
    """Calls ``send(i)`` for i in range(count) at ``rate`` a second whatever the answers, as
    real senders do; ``send`` returns the HTTP status (0 for a broken connection)."""
    result = LoadResult(rate)

    async def one(i: int, due: float) -> None:
        try:
            status = await send(i)
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        result.statuses[status] += 1
        result.latencies.append(time.monotonic() - due)

    pending = []
    start = time.monotonic() + 0.05
    first = last = start
    for i in range(count):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        now = time.monotonic()
        if i == 0:
            first = now
        last = now
        result.send_lags.append(now - due)
        pending.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*pending)
    result.span_s = last - first
    return result


async def warm_up(session: aiohttp.ClientSession, url: str, connections: int = 32) -> None:
    """Opens ``connections`` keep-alive connections (concurrent GETs of ``url``) before a
    run, so that neither side pays its first requests' connection set-up (TLS to the API
    server) inside the measurement."""

    async def one() -> None:
        async with session.get(url) as response:
            await response.read()

    await asyncio.gather(*(one() for _ in range(connections)))


async def post_json(session: aiohttp.ClientSession, url: str, body: bytes) -> int:
    async with session.post(url, data=body,
                            headers={"Content-Type": "application/json"}) as response:
        await response.read()
        return response.status


async def create_burst(kubeconfig: str, path: str, bodies: Sequence[bytes],
                       at: float | None = None, concurrency: int = BURST_CONCURRENCY
                       ) -> Counter[int]:
    """Creates ``bodies`` (JSON) at ``path`` starting at wall-clock second ``at``, with
    ``concurrency`` requests in flight; the HTTP statuses."""
    connection = Connection(kubeconfig, limit=concurrency)
    session = await connection.session()
    url = connection.host + path
    statuses: Counter[int] = Counter()
    queue = list(reversed(bodies))

    async def worker() -> None:
        while queue:
            body = queue.pop()
            try:
                statuses[await post_json(session, url, body)] += 1
            except (aiohttp.ClientError, TimeoutError):
                statuses[0] += 1

    try:
        if at is not None:
            await asyncio.sleep(max(0.0, at - time.time()))
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await connection.close()
    return statuses


async def create_many(kubeconfig: str, path: str, make: Callable[[int], dict[str, Any]],
                      count: int, concurrency: int = BURST_CONCURRENCY,
                      attempts: int = 5) -> int:
    """Creates ``make(i)`` for i in range(count), retrying throttled or failed creates; an
    existing name counts as created. Returns how many were not created."""
    connection = Connection(kubeconfig, limit=concurrency)
    session = await connection.session()
    url = connection.host + path
    next_index = iter(range(count))
    failed = 0

    async def worker() -> None:
        nonlocal failed
        for i in next_index:
            body = json.dumps(make(i)).encode()
            for attempt in range(attempts):
                try:
                    status = await post_json(session, url, body)
                except (aiohttp.ClientError, TimeoutError):
                    status = 0
                if status in (201, 409):
                    break
                await asyncio.sleep(0.2 * 2 ** attempt)
            else:
                failed += 1

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await connection.close()
    return failed


async def patch_many(kubeconfig: str, paths: Sequence[str], patch: dict[str, Any],
                     concurrency: int = BURST_CONCURRENCY) -> Counter[int]:
    """The same JSON merge patch on each object at ``paths``; the HTTP statuses."""
    connection = Connection(kubeconfig, limit=concurrency)
    session = await connection.session()
    body = json.dumps(patch).encode()
    statuses: Counter[int] = Counter()
    todo = list(reversed(paths))

    async def worker() -> None:
        while todo:
            url = connection.host + todo.pop()
            try:
                async with session.patch(url, data=body, headers={
                        "Content-Type": "application/merge-patch+json"}) as response:
                    await response.read()
                    statuses[response.status] += 1
            except (aiohttp.ClientError, TimeoutError):
                statuses[0] += 1

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await connection.close()
    return statuses


async def _count(kubeconfig: str, path: str) -> int:
    """Objects at a list ``path``, read as metadata only, 1000 a page."""
    connection = Connection(kubeconfig)
    session = await connection.session()
    headers = {"Accept": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"}
    total, token = 0, ""
    try:
        while True:
            params = {"limit": "1000", **({"continue": token} if token else {})}
            async with session.get(connection.host + path, params=params,
                                   headers=headers) as response:
                response.raise_for_status()
                page = await response.json()
            total += len(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return total
    finally:
        await connection.close()


def count_objects(kubeconfig: str, path: str) -> int:
    return asyncio.run(_count(kubeconfig, path))


def operator_metrics(port: int) -> dict[str, float]:
    """The operator's /metrics as {'name{labels}': value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _sep, value = line.rpartition(" ")
            try:
                values[name] = float(value)
            except ValueError:
                continue
    return values


def tasks_in_phase(port: int, namespace: str, phase: str) -> int:
    """The operator's own count (agenttasks_tasks) of the namespace's tasks in ``phase``."""
    key = f'agenttasks_tasks{{namespace="{namespace}",phase="{phase}"}}'
    return int(operator_metrics(port).get(key, 0))


def wait_settled(port: int, namespace: str, phase: str, count: int, timeout: float) -> float:
    """Waits until the operator counts ``count`` tasks of ``namespace`` in ``phase``; the
    seconds it took (the timeout when it never did)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if tasks_in_phase(port, namespace, phase) >= count:
                break
        except OSError:
            pass
        time.sleep(0.5)
    return time.monotonic() - started
