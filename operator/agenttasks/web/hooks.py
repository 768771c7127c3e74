"""POST /hooks/<namespace>/<trigger>: authenticated webhook deliveries become AgentTasks.

The answer is decided in this order: too many deliveries in flight (503), the declared size
against the global 1 MiB (413), the body read within BODY_TIMEOUT (408, 413), then the
trigger and the signature together: an unknown trigger and a delivery not signed with its
secret get the same 404, so that a stranger cannot tell which triggers exist. Only then,
for authentic deliveries: the trigger's own size limit (413), its rate limit (429: only
authentic deliveries are counted, so unsigned floods cannot starve real ones), JSON (400),
the filter (202 without a task; 422 when it runs over its time limit), then the task
(202). A 202 means the AgentTask and its payload ConfigMap exist; an API error is a 503 so
that the sender retries, and the retry finds the task by its deterministic name instead of
creating another.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from agenttasks import metrics
from agenttasks.api.meta import API_VERSION, LABEL_TRIGGER, Key
from agenttasks.api.timefmt import parse_time, utcnow
from agenttasks.api.trigger import MAX_PAYLOAD_BYTES, SignatureScheme
from agenttasks.core.filters import Outcome
from agenttasks.core.payload import env_values
from agenttasks.core.ratelimit import TokenBuckets
from agenttasks.core.signatures import CONFIGURATION_REASONS, verify
from agenttasks.core.triggers import (
    SecretState,
    TriggerFacts,
    delivery_id_digest,
    delivery_task_names,
)
from agenttasks.inbox.delivery_counts import DeliveryCounts
from agenttasks.kube.client import ApiError, Kube
from agenttasks.kube.secrets import SecretCache
from agenttasks.manifests.triggers import (
    LABEL_DELIVERY,
    build_delivery_task,
    build_payload_config_map,
    is_delivery_task_of,
    is_payload_of,
    payload_config_map_name,
    payload_config_map_of,
)
from agenttasks.web.filter_runner import Failure, FilterRunner
from agenttasks.web.turns import RUNNING, Turns, reservation

log = logging.getLogger("agenttasks.hooks")
_CHUNK = 64 * 1024
BODY_TIMEOUT = 10.0  # seconds to receive the whole body: a slow sender must not hold a slot
# Deliveries being read or processed at once, each with its API request (turns.py).
MAX_IN_FLIGHT = RUNNING
FILTER_EVENT_INTERVAL = 60.0  # at most one FilterTimedOut Event a minute per trigger
NOT_FOUND = {"error": "no such trigger, or the delivery is not signed with its secret"}
# (trigger, reason, message): a Warning Event on the trigger, posted or passed on.
Warn = Callable[[TriggerFacts, str, str], Awaitable[None]]


def _answer(status: int, body: dict[str, Any], **headers: str) -> web.Response:
    return web.json_response(body, status=status, headers=headers or None)


class PayloadNotOurs(Exception):
    """``<task>-payload`` exists and is not controlled by the task: never used as payload."""


class DeliveryService:
    def __init__(self, kube: Kube, secrets: SecretCache,
                 lookup: Callable[[Key], TriggerFacts | None],
                 watched: Callable[[str], bool], counts: DeliveryCounts,
                 clock: Callable[[], datetime] = utcnow,
                 filters: FilterRunner | None = None,
                 body_timeout: float = BODY_TIMEOUT, turns: Turns | None = None,
                 warn: Warn | None = None) -> None:
        self.kube, self.secrets, self.lookup, self.watched = kube, secrets, lookup, watched
        self.counts, self.clock = counts, clock
        # A split receiver may not create Events: it passes them on to the operator.
        self.warn: Warn = warn or self._emit
        self.filters = filters or FilterRunner()
        self.body_timeout = body_timeout
        self.buckets = TokenBuckets()
        self._last_prune = time.monotonic()
        self._filter_events: dict[Key, float] = {}
        self.turns = turns if turns is not None else Turns()

    async def handle(self, request: web.Request) -> web.Response:
        key = (request.match_info["namespace"], request.match_info["name"])
        trigger = self.lookup(key) if self.watched(key[0]) else None
        if trigger is not None and trigger.spec is None:
            trigger = None
        size = reservation(request.content_length)
        if not await self.turns.acquire(size):  # before the body is read
            metrics.WEBHOOK_REQUESTS.labels("", "", "503").inc()
            return _answer(503, {"error": "too many deliveries at once; retry"},
                           **{"Retry-After": "5"})
        try:
            response, authentic = await self._deliver(trigger, request)
        finally:
            self.turns.release(size)
        if trigger is None or not authentic:
            # Unknown names are not labels: an attacker must not grow the metric's series.
            metrics.WEBHOOK_REQUESTS.labels("", "", str(response.status)).inc()
            if trigger is not None:
                self.counts.count(key, "rejected")
            return response
        if 400 <= response.status < 500:
            self.counts.count(key, "rejected")
        metrics.WEBHOOK_REQUESTS.labels(key[0], key[1], str(response.status)).inc()
        return response

    async def _deliver(self, trigger: TriggerFacts | None, request: web.Request
                       ) -> tuple[web.Response, bool]:
        """The answer, and whether the delivery was authentic (signed with the secret)."""
        # The same steps for a known and an unknown trigger until the signature, so that
        # neither the answer nor reading the body tells them apart.
        if request.content_length is not None and request.content_length > MAX_PAYLOAD_BYTES:
            return _answer(413, {"error": f"payload over {MAX_PAYLOAD_BYTES} bytes"}), False
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await read_limited(request, MAX_PAYLOAD_BYTES)
        except TimeoutError:
            return _answer(408, {"error": f"the body took over {self.body_timeout:g}s"}), False
        if body is None:
            return _answer(413, {"error": f"payload over {MAX_PAYLOAD_BYTES} bytes"}), False
        if trigger is None:
            return _answer(404, NOT_FOUND), False
        spec = trigger.spec
        assert spec is not None

        # A trigger whose Secret is missing answers 503 to anyone: it tells a stranger that
        # a broken trigger exists, but lets senders retry until it is fixed (docs/trigger.md).
        state, secret = await self.secrets.value(trigger.namespace, spec.secret_ref.name,
                                                 spec.secret_ref.key)
        if state != SecretState.FOUND or secret is None:
            return _answer(503, {"error": "trigger not ready: its secret is missing"}), False
        now = self.clock()
        verdict = verify(spec.signature, secret, request.headers, body, now,
                         spec.signature_header)
        if not verdict.accepted:
            if verdict.reason in CONFIGURATION_REASONS:
                return _answer(503, {"error": f"trigger not ready: {verdict.message}"}), False
            if not verdict.authentic:
                return _answer(404, NOT_FOUND), False
            return _answer(401, {"error": verdict.message, "reason": verdict.reason}), True

        if len(body) > spec.max_payload_bytes:
            return _answer(413, {"error": f"payload over {spec.max_payload_bytes} bytes"}), True
        wait = self._rate_limited(trigger)
        if wait is not None:
            return _answer(429, {"error": "rate limit exceeded"},
                           **{"Retry-After": str(max(1, math.ceil(wait)))}), True
        try:
            # UTF-8 only: json.loads would also take UTF-16/32 bytes, which the payload
            # ConfigMap (UTF-8 text) cannot hold. Deep nesting exhausts the recursion limit.
            payload = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            return _answer(400, {"error": "the body is not UTF-8 JSON"}), True
        if spec.filter:
            refused = await self._filter(trigger, spec.filter, body)
            if refused is not None:
                return refused, True
        try:
            name, duplicate = await self._create(trigger, verdict.delivery_id, payload, body,
                                                 now)
        except PayloadNotOurs as exc:
            log.warning("delivery to %s/%s refused: %s", *trigger.key, exc)
            return _answer(503, {"error": str(exc)}, **{"Retry-After": "60"}), True
        except ApiError as exc:
            log.warning("delivery to %s/%s failed: %s", *trigger.key, exc)
            return _answer(503, {"error": "could not create the task; retry the delivery"},
                           **{"Retry-After": "5"}), True
        self.counts.count(trigger.key, "duplicate" if duplicate else "accepted",
                          None if duplicate else now)
        return _answer(202, {"task": name, "namespace": trigger.namespace}), True

    async def _filter(self, trigger: TriggerFacts, expression: str, body: bytes
                      ) -> web.Response | None:
        """None when the filter holds; else the answer (202 filtered, 422, 503)."""
        verdict = await self.filters.run(trigger.key, expression, body)
        if verdict.outcome == Outcome.MATCH:
            return None
        if verdict.outcome == Outcome.NO_MATCH:
            self.counts.count(trigger.key, "accepted")
            return _answer(202, {"task": None, "filtered": True})
        if verdict.outcome == Outcome.INVALID:
            return _answer(503, {"error": "trigger not ready: spec.filter is invalid"})
        if verdict.failure == Failure.TIMED_OUT:
            limit = self.filters.timeout
            log.warning("the filter of %s/%s ran over %gs and was stopped", *trigger.key, limit)
            await self._filter_event(trigger, f"spec.filter ran over its time limit of "
                                     f"{limit:g}s on a delivery, which was refused (422)")
            return _answer(422, {"error": f"the trigger's filter ran over its time limit of "
                                 f"{limit:g}s; the delivery was not accepted"})
        return _answer(503, {"error": "no filter worker was free; retry the delivery"},
                       **{"Retry-After": "5"})

    async def _filter_event(self, trigger: TriggerFacts, message: str) -> None:
        now = time.monotonic()
        if now - self._filter_events.get(trigger.key, -math.inf) < FILTER_EVENT_INTERVAL:
            return
        self._filter_events[trigger.key] = now
        await self.warn(trigger, "FilterTimedOut", message)

    async def _emit(self, trigger: TriggerFacts, reason: str, message: str) -> None:
        await emit_warning(self.kube, trigger.namespace, trigger.name, trigger.uid, reason,
                           message)

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
        body_sha256 = hashlib.sha256(body).hexdigest()
        name, *earlier = delivery_task_names(trigger, delivery_id, body_sha256, now)
        for previous in earlier:  # the same body in the window's previous bucket
            task = await self._own_task(trigger, previous)
            created = parse_time(task["metadata"]["creationTimestamp"]) if task else None
            if task and created and now - created <= trigger.spec.dedup_window:
                await self._ensure_payload(task, body)
                return previous, True
        if trigger.spec.signature == SignatureScheme.GITHUB:
            redelivered = await self._task_of_delivery_id(trigger, delivery_id)
            if redelivered is not None:
                await self._ensure_payload(redelivered, body)
                return redelivered["metadata"]["name"], True
        env = env_values(payload, trigger.spec.params)
        try:
            task = await self.kube.create_object(
                "agenttasks", build_delivery_task(trigger, name, delivery_id, env,
                                                  body.decode("utf-8")))
            created_now = True
        except ApiError as exc:
            if not exc.conflict:
                raise
            found = await self._own_task(trigger, name)
            if found is None:
                raise
            task, created_now = found, False
        try:
            await self._ensure_payload(task, body, first=created_now)
        except PayloadNotOurs:
            if created_now:  # its Job would mount someone else's ConfigMap: it must not run
                await self.kube.delete_object("agenttasks", trigger.namespace, name)
            raise
        return name, not created_now

    async def _own_task(self, trigger: TriggerFacts, name: str) -> dict[str, Any] | None:
        task = await self.kube.get_object("agenttasks", trigger.namespace, name)
        return task if is_delivery_task_of(task, trigger) else None

    async def _task_of_delivery_id(self, trigger: TriggerFacts, delivery_id: str
                                   ) -> dict[str, Any] | None:
        """github: the trigger's task of this delivery id (a redelivery after the window)."""
        selector = (f"{LABEL_TRIGGER}={trigger.name},"
                    f"{LABEL_DELIVERY}={delivery_id_digest(trigger.name, delivery_id)}")
        listing = await self.kube.list_objects("agenttasks", trigger.namespace, selector)
        tasks: list[dict[str, Any]] = listing.get("items") or []
        return next((t for t in tasks if is_delivery_task_of(t, trigger)), None)

    async def _ensure_payload(self, task: dict[str, Any], body: bytes, first: bool = False
                              ) -> None:
        """Create the task's payload ConfigMap, when its payload is not inline; one that
        exists already must be controlled by it.

        ``first``: the task was created just now, so an existing ConfigMap cannot be ours.
        The existing one is read only on a conflict, so that the usual delivery makes no
        read. Without the right to read ConfigMaps (a chart older than this check) a
        redelivery's ConfigMap is taken as ours with a warning; a new task's never is.
        """
        if payload_config_map_of(task) is None:
            return  # the payload is in the task itself: the delivery was one write
        try:
            await self.kube.create_config_map(build_payload_config_map(task,
                                                                       body.decode("utf-8")))
            return
        except ApiError as exc:
            if not exc.conflict:
                raise
        meta = task["metadata"]
        name = payload_config_map_name(meta["name"])
        refusal = PayloadNotOurs(f"ConfigMap {name} exists and does not belong to task "
                                 f"{meta['name']}; delete it to accept the delivery")
        if first:
            raise refusal
        try:
            existing = await self._read_config_map(meta["namespace"], name)
        except ApiError as exc:
            if exc.status != 403:
                raise
            log.warning("cannot check that ConfigMap %s/%s belongs to its task: the operator "
                        "may not get configmaps (grant it)", meta["namespace"], name)
            return
        if not is_payload_of(existing, task):
            raise refusal

    async def _read_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self.kube.get_config_map(namespace, name)


async def emit_warning(kube: Kube, namespace: str, name: str, uid: str, reason: str,
                       message: str) -> None:
    """A Warning Event on a trigger; a refusal is logged, never raised to the delivery."""
    involved = {"apiVersion": API_VERSION, "kind": "AgentTaskTrigger",
                "metadata": {"name": name, "namespace": namespace, "uid": uid}}
    try:
        await kube.emit(involved, "Warning", reason, message)
    except ApiError as exc:
        log.warning("could not record the %s Event: %s", reason, exc)


async def read_limited(request: web.Request, limit: int) -> bytes | None:
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
