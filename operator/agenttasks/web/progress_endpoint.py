"""POST /progress/<namespace>/<task>: an attempt's agent reports {completed, total, message}.

The bearer token is the pod's projected ServiceAccount token with our audience. In order:

1. a namespace the operator does not watch, or a request without a bearer token, is refused;
2. authentication, before anything about the task is looked at: a token that is not a JWT
   for our audience, or has expired, is refused without a review; else a TokenReview for
   our audience (its answer kept by the token's hash) names the pod the token was bound to;
3. that pod's binding (its controller Job, and the task controlling that Job), read once
   per pod: the pod by name, its uid checked, and the Job from the operator's index;
4. the decision, from memory (core.progress_auth.reporting_attempt): the Job is the current
   attempt's of the task in the URL, controlled by that task's uid, and the task has not
   finished.

Every refusal gets the same answer, so it does not tell which tasks exist. An accepted report
goes to the progress inbox; the task's reconciler, the one writer of its status, writes the
newest one at most once per second.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable

from aiohttp import web

from agenttasks.api.meta import Key
from agenttasks.core.facts import JobFacts, TaskSummary
from agenttasks.core.progress_auth import (
    PodIdentity,
    reporting_attempt,
    unverified_claims,
    worth_reviewing,
)
from agenttasks.core.progress_reports import ReportError, parse_report
from agenttasks.inbox.agent_reports import ProgressInbox
from agenttasks.kube.client import ApiError
from agenttasks.kube.progress_auth import PodBindings, PodTokenReviews

from .access import bearer_token
from .token_throttle import TokenReviewThrottle

log = logging.getLogger("agenttasks.progress")
MAX_BODY = 16 * 1024
REFUSED = {"error": "not a token of the current attempt's pod"}


def _everything(_namespace: str) -> bool:
    return True


def _no_jobs(_key: Key) -> list[JobFacts]:
    return []


class ProgressEndpoint:
    """``watched`` says which namespaces the operator serves; ``task`` and ``jobs`` are the
    operator's view of a task and its Jobs (no API read)."""

    def __init__(self, reviews: PodTokenReviews, bindings: PodBindings, inbox: ProgressInbox,
                 task: Callable[[Key], TaskSummary | None],
                 jobs: Callable[[Key], list[JobFacts]] = _no_jobs,
                 watched: Callable[[str], bool] = _everything,
                 throttle: TokenReviewThrottle | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.reviews, self.bindings, self.inbox = reviews, bindings, inbox
        self.task, self.jobs, self.watched, self.wall = task, jobs, watched, wall
        # Reviews of tokens not kept yet, per client address: a pod needs about one per
        # 10 minutes, so the dashboard's budget is generous here too.
        self.throttle = throttle if throttle is not None else TokenReviewThrottle()

    async def handle(self, request: web.Request) -> web.Response:
        key = (request.match_info["namespace"], request.match_info["task"])
        try:
            token = bearer_token(request.headers.get("Authorization"))
        except ValueError:
            token = None
        if not token or not self.watched(key[0]):
            return _refused()
        try:
            pod = await self._pod(token, request.remote or "")
            attempt = await self._attempt(key, pod) if pod is not None else None
        except _Throttled as exc:
            return web.json_response({"error": "too many new tokens; try again"}, status=429,
                                     headers={"Retry-After": str(exc.seconds)})
        except Exception as exc:  # the API server did not answer: nothing was decided
            why = exc if isinstance(exc, ApiError) else type(exc).__name__  # never the token
            log.warning("progress report for %s/%s not checked: %s", *key, why)
            return web.json_response({"error": "could not check the token; try again"},
                                     status=503, headers={"Retry-After": "1"})
        if attempt is None:
            return _refused()
        if (request.content_length or 0) > MAX_BODY:
            return web.json_response({"error": "report too large"}, status=413)
        try:
            progress = parse_report(json.loads(await request.read()), attempt)
        except (ValueError, ReportError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if not self.inbox.offer(key, progress):
            return web.json_response({"error": "too many reports waiting; try again"},
                                     status=503, headers={"Retry-After": "1"})
        return web.json_response({"accepted": True, "attempt": attempt}, status=202)

    async def _pod(self, token: str, client: str) -> PodIdentity | None:
        """The pod the token was bound to, as a TokenReview for our audience says."""
        known, pod = self.reviews.kept(token)
        if known:
            return pod
        if not worth_reviewing(unverified_claims(token), self.reviews.audience, self.wall()):
            return None
        wait = self.throttle.refusal(client)
        if wait is not None:
            raise _Throttled(max(1, math.ceil(wait)))
        with self.throttle.sending():
            return await self.reviews.review(token)

    async def _attempt(self, key: Key, pod: PodIdentity) -> int | None:
        task = self.task(key)
        if pod.namespace != key[0] or task is None or task.terminal:
            return None  # decided from memory: no read for another namespace's pod, or a
            # task that is unknown or finished
        indexed = {job.name: job for job in self.jobs(key)}
        binding = await self.bindings.binding(pod, indexed.get)
        if binding is None:
            return None
        return reporting_attempt(key, binding, task, indexed.get(binding.job_name))


class _Throttled(Exception):
    def __init__(self, seconds: int) -> None:
        self.seconds = seconds


def _refused() -> web.Response:
    return web.json_response(REFUSED, status=401)
