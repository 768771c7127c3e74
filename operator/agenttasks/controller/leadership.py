"""Gates our work queues on kopf peering: with --peering, only the active replica acts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from agenttasks.api.timefmt import utcnow
from agenttasks.core.peering import is_active
from agenttasks.kube.client import ApiError, Kube

from .settings import OperatorSettings

log = logging.getLogger("agenttasks.leadership")
POLL_S = 1.0


class Leadership:
    def __init__(self, kube: Kube, settings: OperatorSettings,
                 on_activate: Callable[[], Awaitable[None]],
                 on_pause: Callable[[], None]) -> None:
        self.kube, self.settings = kube, settings
        self.on_activate, self.on_pause = on_activate, on_pause
        self.active = asyncio.Event()

    async def run(self) -> None:
        if not self.settings.peering:
            await self.on_activate()
            self.active.set()
            return
        while True:
            try:
                active = await self._check()
            except ApiError as exc:  # unknown: keep the last answer, try again soon
                log.warning("peering check failed: %s", exc)
                active = self.active.is_set()
            if active and not self.active.is_set():
                try:
                    await self.on_activate()
                except ApiError as exc:
                    log.warning("could not take over yet: %s", exc)
                    await asyncio.sleep(POLL_S)
                    continue
                log.info("active: acting for peering %s (priority %d)",
                         self.settings.peering, self.settings.priority)
                self.active.set()
            elif not active and self.active.is_set():
                log.info("paused: another replica with a higher priority is alive")
                self.on_pause()
                self.active.clear()
            await asyncio.sleep(POLL_S)

    async def _check(self) -> bool:
        assert self.settings.peering
        existing = await self.kube.list_namespaces() if self.settings.uses_patterns else []
        scopes = self.settings.peering_scopes(existing)
        if not scopes:
            return False  # no namespace matches yet: kopf serves none, so nobody leads
        now = utcnow()
        for scope in scopes:
            peers = await self.kube.peering_status(self.settings.peering, scope)
            if peers is None:  # kopf has not written our keep-alive yet
                return False
            if self.settings.identity not in peers:
                return False
            if not is_active(peers, self.settings.identity, self.settings.priority, now):
                return False
        return True
