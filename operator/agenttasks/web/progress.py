"""POST /progress/<namespace>/<task>: an attempt's agent reports {completed, total, message}.

The bearer token is the current attempt's (constant-time check), so a stale attempt is
refused. Reports are coalesced to at most one status write per second per task.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from aiohttp import web

from agenttasks.core.progress import Coalescer, ReportError, parse_report, token_matches
from agenttasks.kube.client import ApiError, Kube
from agenttasks.kube.progress import ProgressTokens

log = logging.getLogger("agenttasks.progress")
MAX_BODY = 16 * 1024
Key = tuple[str, str]


class ProgressService:
    def __init__(self, kube: Kube, tokens: ProgressTokens) -> None:
        self.kube, self.tokens = kube, tokens
        self.coalescer = Coalescer()
        self._flushes: dict[Key, asyncio.Task[None]] = {}

    async def handle(self, request: web.Request) -> web.Response:
        key = (request.match_info["namespace"], request.match_info["task"])
        header = request.headers.get("Authorization", "")
        given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        current = await self.tokens.current(*key)
        if current is None or not token_matches(given, current[1]):
            return web.json_response({"error": "not the current attempt's token"}, status=401)
        if (request.content_length or 0) > MAX_BODY:
            return web.json_response({"error": "report too large"}, status=413)
        try:
            progress = parse_report(json.loads(await request.read()), current[0])
        except (ValueError, ReportError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        delay = self.coalescer.offer(key, progress, time.monotonic())
        if key not in self._flushes:
            self._flushes[key] = asyncio.create_task(self._flush_later(key, delay))
        return web.json_response({"accepted": True, "attempt": current[0]}, status=202)

    async def _flush_later(self, key: Key, delay: float) -> None:
        """Writes the newest report when due, and again while newer ones keep arriving."""
        try:
            while True:
                await asyncio.sleep(delay)
                progress = self.coalescer.take(key, time.monotonic())
                if progress is not None:
                    body = progress.model_dump(by_alias=True, exclude_none=True, mode="json")
                    await self.kube.patch_status("agenttasks", key[0], key[1],
                                                 {"progress": body})
                if not self.coalescer.has_pending(key):
                    return
                delay = self.coalescer.offer_delay(key, time.monotonic())
        except ApiError as exc:
            log.warning("could not write progress of %s/%s: %s", *key, exc)
        finally:
            self._flushes.pop(key, None)
