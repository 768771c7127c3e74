"""POST /hooks/<namespace>/<trigger>: authenticated webhook deliveries become AgentTasks.

The answer is decided in this order, cheapest first: unknown trigger (404), declared size
(413), rate limit (429), actual size (413), the trigger's own configuration (503), the
signature (401), JSON (400), the filter (202, no task), then the task (202). A 202 means the
AgentTask and its payload ConfigMap exist; an API error is a 503 so that the sender retries,
and the retry finds the task by its deterministic name instead of creating another.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from agenttasks import metrics
from agenttasks.api.meta import LABEL_TRIGGER, Key
from agenttasks.api.timefmt import parse_time, utcnow
from agenttasks.core.filters import FilterError, compile_filter
from agenttasks.core.payload import env_values
from agenttasks.core.ratelimit import TokenBuckets
from agenttasks.core.signatures import CONFIGURATION_REASONS, verify
from agenttasks.core.triggers import (
    SecretState,
    TriggerFacts,
    delivery_task_names,
)
from agenttasks.inbox.delivery_counts import DeliveryCounts
from agenttasks.kube.client import ApiError, Kube
from agenttasks.kube.secrets import SecretCache
from agenttasks.manifests.triggers import build_delivery_task, build_payload_config_map

log = logging.getLogger("agenttasks.hooks")
_CHUNK = 64 * 1024


def _answer(status: int, body: dict[str, Any], **headers: str) -> web.Response:
    return web.json_response(body, status=status, headers=headers or None)


class DeliveryService:
    def __init__(self, kube: Kube, secrets: SecretCache,
                 lookup: Callable[[Key], TriggerFacts | None],
                 watched: Callable[[str], bool], counts: DeliveryCounts,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.kube, self.secrets, self.lookup, self.watched = kube, secrets, lookup, watched
        self.counts, self.clock = counts, clock
        self.buckets = TokenBuckets()
        self._last_prune = time.monotonic()

    async def handle(self, request: web.Request) -> web.Response:
        key = (request.match_info["namespace"], request.match_info["name"])
        trigger = self.lookup(key) if self.watched(key[0]) else None
        if trigger is None or trigger.spec is None:
            # Unknown names are not labels: an attacker must not grow the metric's series.
            metrics.WEBHOOK_REQUESTS.labels("", "", "404").inc()
            return _answer(404, {"error": f"no trigger {key[0]}/{key[1]}"})
        response = await self._deliver(trigger, request)
        if response.status >= 400 and response.status < 500:
            self.counts.count(key, "rejected")
        metrics.WEBHOOK_REQUESTS.labels(key[0], key[1], str(response.status)).inc()
        return response

    async def _deliver(self, trigger: TriggerFacts, request: web.Request) -> web.Response:
        spec = trigger.spec
        assert spec is not None
        limit = spec.max_payload_bytes
        if request.content_length is not None and request.content_length > limit:
            return _answer(413, {"error": f"payload over {limit} bytes"})
        wait = self._rate_limited(trigger)
        if wait is not None:
            return _answer(429, {"error": "rate limit exceeded"},
                           **{"Retry-After": str(max(1, math.ceil(wait)))})
        body = await _read_limited(request, limit)
        if body is None:
            return _answer(413, {"error": f"payload over {limit} bytes"})

        state, secret = await self.secrets.value(trigger.namespace, spec.secret_ref.name,
                                                 spec.secret_ref.key)
        if state != SecretState.FOUND or secret is None:
            return _answer(503, {"error": "trigger not ready: its secret is missing"})
        now = self.clock()
        verdict = verify(spec.signature, secret, request.headers, body, now,
                         spec.signature_header)
        if not verdict.accepted:
            if verdict.reason in CONFIGURATION_REASONS:
                return _answer(503, {"error": f"trigger not ready: {verdict.message}"})
            return _answer(401, {"error": verdict.message, "reason": verdict.reason})
        try:
            # UTF-8 only: json.loads would also take UTF-16/32 bytes, which the payload
            # ConfigMap (UTF-8 text) cannot hold. Deep nesting exhausts the recursion limit.
            payload = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            return _answer(400, {"error": "the body is not UTF-8 JSON"})
        if spec.filter:
            try:
                matched = compile_filter(spec.filter).matches(payload)
            except FilterError as exc:
                return _answer(503, {"error": f"trigger not ready: spec.filter: {exc}"})
            if not matched:
                self.counts.count(trigger.key, "accepted")
                return _answer(202, {"task": None, "filtered": True})
        try:
            name, duplicate = await self._create(trigger, verdict.delivery_id, payload, body,
                                                 now)
        except ApiError as exc:
            log.warning("delivery to %s/%s failed: %s", *trigger.key, exc)
            return _answer(503, {"error": "could not create the task; retry the delivery"},
                           **{"Retry-After": "5"})
        self.counts.count(trigger.key, "duplicate" if duplicate else "accepted",
                          None if duplicate else now)
        return _answer(202, {"task": name, "namespace": trigger.namespace})

    def _rate_limited(self, trigger: TriggerFacts) -> float | None:
        assert trigger.spec is not None
        now = time.monotonic()
        if now - self._last_prune > 60:
            self.buckets.prune(now)
            self._last_prune = now
        return self.buckets.take(f"{trigger.namespace}/{trigger.name}",
                                 trigger.spec.rate_limit.per_minute, now)

    async def _create(self, trigger: TriggerFacts, delivery_id: str, payload: Any,
                      body: bytes, now: datetime) -> tuple[str, bool]:
        """Creates the delivery's task and payload, or finds them. Returns (task, duplicate)."""
        assert trigger.spec is not None
        name, *earlier = delivery_task_names(trigger, delivery_id, now)
        for previous in earlier:  # hmac-sha256: the same body in the window's last bucket
            task = await self._own_task(trigger, previous)
            created = parse_time(task["metadata"]["creationTimestamp"]) if task else None
            if task and created and now - created <= trigger.spec.dedup_window:
                await self._ensure_payload(task, body)
                return previous, True
        env = env_values(payload, trigger.spec.params)
        try:
            task = await self.kube.create_object(
                "agenttasks", build_delivery_task(trigger, name, delivery_id, env))
            duplicate = False
        except ApiError as exc:
            if not exc.conflict:
                raise
            found = await self._own_task(trigger, name)
            if found is None:
                raise
            task, duplicate = found, True
        await self._ensure_payload(task, body)
        return name, duplicate

    async def _own_task(self, trigger: TriggerFacts, name: str) -> dict[str, Any] | None:
        task = await self.kube.get_object("agenttasks", trigger.namespace, name)
        labels = (task or {}).get("metadata", {}).get("labels") or {}
        return task if labels.get(LABEL_TRIGGER) == trigger.name else None

    async def _ensure_payload(self, task: dict[str, Any], body: bytes) -> None:
        try:
            await self.kube.create_config_map(build_payload_config_map(task,
                                                                       body.decode("utf-8")))
        except ApiError as exc:
            if not exc.conflict:
                raise


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it passes ``limit`` (whatever Content-Length said)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
