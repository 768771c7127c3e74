"""POST /progress/<namespace>/<task>: an attempt's agent reports {completed, total, message}.

The bearer token is the current attempt's (constant-time check), so a stale attempt is
refused. An accepted report goes to the progress inbox; the task's reconciler, the one
writer of its status, writes the newest one at most once per second.
"""

from __future__ import annotations

import json

from aiohttp import web

from agenttasks.core.progress_reports import ReportError, parse_report, token_matches
from agenttasks.inbox.agent_reports import ProgressInbox
from agenttasks.kube.progress_tokens import ProgressTokens

MAX_BODY = 16 * 1024


class ProgressEndpoint:
    def __init__(self, tokens: ProgressTokens, inbox: ProgressInbox) -> None:
        self.tokens, self.inbox = tokens, inbox

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
        self.inbox.offer(key, progress)
        return web.json_response({"accepted": True, "attempt": current[0]}, status=202)
