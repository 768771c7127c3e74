"""POST /internal/delivery-counts on the operator: a split receiver's report of the
deliveries it counted, into the operator's DeliveryCounts inbox. The trigger reconciler,
the one writer of trigger status, flushes them with its own (core/delivery_reports.py).

Only the receiver's ServiceAccount may report: the operator's HTTP port is reachable from
the cluster's pods (agents report progress there), and anyone else could otherwise inflate a
trigger's counters or have the operator post Events. The bearer token is reviewed with a
TokenReview (the dashboard's gate: cached by the token's hash, bounded) for the audience
the chart's projected token is minted for, and the user must be ``receiver_user`` exactly.

A replica that does not act (a standby, or one still listing) answers 503, so the receiver
keeps its counts for the next report, which the Service sends to the active replica. Only
triggers this operator knows are counted, so a report cannot grow its memory.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from agenttasks.api.meta import Key
from agenttasks.core.bounded import BoundedMap
from agenttasks.core.delivery_reports import MAX_REPORT_BYTES, Notice, parse_report
from agenttasks.core.triggers import TriggerFacts
from agenttasks.inbox.delivery_counts import DeliveryCounts

from .auth import DashboardError, Gate
from .hooks import FILTER_EVENT_INTERVAL, read_limited

log = logging.getLogger("agenttasks.intake")
PATH = "/internal/delivery-counts"
MAX_NOTICE_KEYS = 10_000
# (namespace, name, uid, reason, message): a Warning Event on a trigger.
Emit = Callable[[str, str, str, str, str], Awaitable[None]]


def _answer(status: int, body: dict[str, object]) -> web.Response:
    return web.json_response(body, status=status)


class CountIntake:
    def __init__(self, gate: Gate, receiver_user: str, counts: DeliveryCounts,
                 lookup: Callable[[Key], TriggerFacts | None],
                 watched: Callable[[str], bool], ready: Callable[[], bool], emit: Emit,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.gate, self.receiver_user, self.counts = gate, receiver_user, counts
        self.lookup, self.watched, self.ready, self.emit = lookup, watched, ready, emit
        self.clock = clock
        # The receiver limits its notices to one a minute per trigger; so does the operator,
        # whatever a receiver (or several) sends.
        self._noticed: BoundedMap[Key, float] = BoundedMap(MAX_NOTICE_KEYS)

    async def handle(self, request: web.Request) -> web.Response:
        if not self.ready():
            return _answer(503, {"error": "this replica does not act now; retry"})
        try:
            user = await self.gate.identify(request.headers.get("Authorization"), action=True)
        except DashboardError as exc:
            return _answer(exc.status, {"error": exc.message})
        if user is None or user.username != self.receiver_user:
            log.warning("a delivery-count report from %s was refused",
                        user.username if user else "anonymous")
            return _answer(403, {"error": "only the receiver's ServiceAccount may report"})
        if (request.content_length or 0) > MAX_REPORT_BYTES:
            return _answer(413, {"error": f"a report is at most {MAX_REPORT_BYTES} bytes"})
        body = await read_limited(request, MAX_REPORT_BYTES)
        if body is None:
            return _answer(413, {"error": f"a report is at most {MAX_REPORT_BYTES} bytes"})
        try:
            report = parse_report(json.loads(body))
        except (ValueError, RecursionError) as exc:
            return _answer(400, {"error": f"not a report: {exc}"})
        counted = 0
        for key, pending in report.counts.items():
            if self._known(key) is not None:
                self.counts.add(key, pending)
                counted += 1
        for notice in report.notices:
            await self._notice(notice)
        # Counts of triggers we do not know are dropped, not kept: they are gone, or not
        # yet seen here (then a few seconds of counts are lost, as on a restart).
        return _answer(200, {"counted": counted, "dropped": len(report.counts) - counted})

    def _known(self, key: Key) -> TriggerFacts | None:
        return self.lookup(key) if self.watched(key[0]) else None

    async def _notice(self, notice: Notice) -> None:
        trigger = self._known(notice.key)
        if trigger is None:
            return
        now, last = self.clock(), self._noticed.get(notice.key)
        if last is not None and now - last < FILTER_EVENT_INTERVAL:
            return
        self._noticed.put(notice.key, now)
        # The uid is ours, not the receiver's: the Event is about the trigger we know.
        await self.emit(trigger.namespace, trigger.name, trigger.uid, notice.reason,
                        notice.message)
