"""POST /progress/<namespace>/<task>: an attempt's agent reports {completed, total, message}.

The bearer token is the current attempt's (constant-time check), so a stale attempt is
refused. An accepted report goes to the progress inbox; the task's reconciler, the one
writer of its status, writes the newest one at most once per second.

What a report may cost is decided from memory before any API read: a namespace the
operator does not watch, a request without a token, a task the operator does not know or
that has finished are all refused at once, with the same answer as a wrong token (which
tasks exist is not told). Only then may the task's token be read from its Secret, and
only when this process does not hold it (see kube/progress_tokens.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from aiohttp import web

from agenttasks.api.meta import Key
from agenttasks.core.facts import TaskSummary
from agenttasks.core.progress_reports import ReportError, parse_report, token_matches
from agenttasks.inbox.agent_reports import ProgressInbox
from agenttasks.kube.progress_tokens import ProgressTokens

MAX_BODY = 16 * 1024
REFUSED = {"error": "not the current attempt's token"}


def _everything(_namespace: str) -> bool:
    return True


def open_task_uid(task: TaskSummary | None) -> str | None:
    """The uid of a task whose agent may report: it exists and has not finished."""
    return None if task is None or task.terminal else task.uid


class ProgressEndpoint:
    """``watched`` says which namespaces the operator serves; ``task``, when given, is the
    operator's view of a task (no API read), so reports for unknown and finished tasks are
    refused first. Both default to allowing everything, which is what they did before."""

    def __init__(self, tokens: ProgressTokens, inbox: ProgressInbox,
                 watched: Callable[[str], bool] = _everything,
                 task: Callable[[Key], TaskSummary | None] | None = None) -> None:
        self.tokens, self.inbox, self.watched, self.task = tokens, inbox, watched, task

    async def handle(self, request: web.Request) -> web.Response:
        key = (request.match_info["namespace"], request.match_info["task"])
        header = request.headers.get("Authorization", "")
        given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if not given or not self.watched(key[0]):
            return web.json_response(REFUSED, status=401)
        uid = None
        if self.task is not None:
            uid = open_task_uid(self.task(key))
            if uid is None:
                return web.json_response(REFUSED, status=401)
        current = await self.tokens.current(*key, uid=uid)
        if current is None or not token_matches(given, current[1]):
            return web.json_response(REFUSED, status=401)
        if (request.content_length or 0) > MAX_BODY:
            return web.json_response({"error": "report too large"}, status=413)
        try:
            progress = parse_report(json.loads(await request.read()), current[0])
        except (ValueError, ReportError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if not self.inbox.offer(key, progress):
            return web.json_response({"error": "too many reports waiting; try again"},
                                     status=503, headers={"Retry-After": "1"})
        return web.json_response({"accepted": True, "attempt": current[0]}, status=202)
