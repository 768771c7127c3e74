"""The split receiver's half of the delivery counts (core/delivery_reports.py): every
INTERVAL_S it takes what its DeliveryCounts inbox holds, and the Warning notices waiting,
and POSTs them to the operator's /internal/delivery-counts with its bearer token.

A report the operator did not take (no connection, a refusal, a standby's 503) is kept and
sent with the next one. The inbox holds one entry per known trigger, so waiting costs no
more memory than that; notices wait in a bounded queue that drops the oldest. A report
whose fate is unknown (the connection broke after it was sent) is not sent again: counting
it twice would be wrong, and a few seconds of counts is what a crash costs anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from enum import Enum
from pathlib import Path
from typing import Any

import aiohttp

from agenttasks.core.delivery_reports import MAX_NOTICES, MAX_TRIGGERS, Notice, report_body
from agenttasks.core.triggers import TriggerFacts
from agenttasks.inbox.delivery_counts import DeliveryCounts

from .count_intake import PATH

log = logging.getLogger("agenttasks.forwarder")
INTERVAL_S = 2.0
TIMEOUT_S = 10.0
# The bearer token to present, read afresh for every report (a projected token rotates).
TokenSource = Callable[[], Awaitable[str | None]]


class Fate(Enum):
    TAKEN = "taken"
    KEPT = "kept"  # certainly not counted: sent again with the next report
    UNKNOWN = "unknown"  # maybe counted: dropped


class CountForwarder:
    def __init__(self, counts: DeliveryCounts, operator_url: str, token: TokenSource,
                 interval: float = INTERVAL_S, timeout: float = TIMEOUT_S) -> None:
        self.counts, self.url, self.token = counts, operator_url.rstrip("/") + PATH, token
        self.interval, self.timeout = interval, timeout
        self._notices: deque[Notice] = deque(maxlen=MAX_NOTICES)
        self._session: aiohttp.ClientSession | None = None
        self._failing = False

    async def warn(self, trigger: TriggerFacts, reason: str, message: str) -> None:
        """DeliveryService's ``warn``: the operator posts the Event with the next report."""
        self._notices.append(Notice(trigger.namespace, trigger.name, reason, message))

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.interval)
                await self.flush()
        finally:
            await self.close()

    async def flush(self) -> None:
        """Sends everything waiting, MAX_TRIGGERS triggers a report."""
        taken = self.counts.take_all()
        keys, notices = list(taken), list(self._notices)
        self._notices.clear()
        while keys or notices:
            batch = {key: taken[key] for key in keys[:MAX_TRIGGERS]}
            fate = await self._send(report_body(batch, notices))
            if fate is Fate.KEPT:
                for key in keys:
                    self.counts.give_back(key, taken[key])
                self._notices = deque([*notices, *self._notices], maxlen=MAX_NOTICES)
                return
            keys, notices = keys[MAX_TRIGGERS:], []

    async def _send(self, body: dict[str, Any]) -> Fate:
        try:
            token = await self.token()
        except Exception as exc:
            return self._failed(Fate.KEPT, f"no token to present ({exc})")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout, sock_connect=5))
        try:
            async with self._session.post(self.url, json=body, headers=headers) as response:
                text = (await response.text())[:300]
                if response.status != 200:
                    return self._failed(Fate.KEPT, f"{response.status}: {text}")
        except aiohttp.ClientConnectorError as exc:  # never reached the operator
            return self._failed(Fate.KEPT, str(exc))
        except (TimeoutError, aiohttp.ClientError) as exc:
            return self._failed(Fate.UNKNOWN, f"{type(exc).__name__} {exc}; its counts are "
                                "dropped rather than maybe counted twice")
        if self._failing:
            log.info("delivery counts reach the operator again")
            self._failing = False
        return Fate.TAKEN

    def _failed(self, fate: Fate, why: str) -> Fate:
        # One warning when reports start failing, not one every INTERVAL_S.
        (log.debug if self._failing else log.warning)(
            "could not report delivery counts to %s: %s", self.url, why)
        self._failing = True
        return fate

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def file_token(path: str) -> TokenSource:
    """The token in ``path``, read for every report: the kubelet rewrites a projected token
    before it expires."""
    async def read() -> str | None:
        return Path(path).read_text().strip() or None
    return read
