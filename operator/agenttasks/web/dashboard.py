"""The live dashboard on the operator's HTTP port: pages at /, /tasks/<ns>/<name>,
/schedules, /triggers, /queue and /tasks/new; JSON, streams and actions under /api/dashboard/
(the actions themselves are in writes.py); the queue's JSON at /api/queue (queue_endpoint.py).

Every API call carries the user's token (``Authorization: Bearer``). A TokenReview says who
the user is; a SubjectAccessReview for that user allows each read and each action before the
operator performs it with its own client. Streams are fetch() requests with the same header
whose body is a text/event-stream. A stream renders again only when the change feed says
something its view shows has changed (at most once per RENDER_GAP_S), and at least every
REAUTH_S seconds; each render re-checks the token and the reviews. Open streams are capped
per user and in total (stream_slots.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from agenttasks.core.privilege import UserInfo
from agenttasks.kube.access_reviews import AccessReviews

from .assets import Asset, load, respond
from .auth import API_HEADERS, DashboardError, Gate
from .feed import ChangeFeed, Subscription, relevant_to
from .pages import SECURITY_HEADERS, page
from .queue_endpoint import QueueEndpoint
from .stream_slots import Refusal, StreamSlots
from .views import (
    EVENTS_REFRESH_S,
    DashboardKube,
    Sources,
    Views,
    check_name,
    check_namespace,
    view_params,
)
from .writes import Writes

log = logging.getLogger("agenttasks.dashboard")
RENDER_GAP_S = 0.25  # a stream renders at most this often: a burst of changes is one render
REAUTH_S = 15.0  # a quiet stream re-checks the token and access at least this often
ALIVE_S = 2.0  # how often a quiet stream looks whether the browser has gone

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(exc: DashboardError) -> web.Response:
    headers = dict(API_HEADERS)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="agenttasks-dashboard"'
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return web.json_response({"error": exc.message}, status=exc.status, headers=headers)


def _json_errors(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except DashboardError as exc:
            return _error(exc)

    return wrapped


class Dashboard:
    def __init__(self, kube: DashboardKube, sources: Sources,
                 read_only_without_token: bool = False, feed: ChangeFeed | None = None,
                 access: AccessReviews | None = None, slots: StreamSlots | None = None,
                 token_audiences: Sequence[str] = ()) -> None:
        """``feed`` is what wakes the streams; without one, ``sources.feed``. ``access``
        keeps SubjectAccessReview answers (shared with the admission webhook); ``slots``
        caps the open streams (the defaults of stream_slots.py without one). With
        ``token_audiences``, only tokens issued for one of them sign in."""
        self.kube, self.sources = kube, sources
        self.feed = feed if feed is not None else sources.feed
        self.read_only = read_only_without_token
        self.gate = Gate(kube, access, read_only_without_token, audiences=token_audiences)
        self.views = Views(kube, sources, self.gate)
        self.writes = Writes(kube, self.gate, sources)
        self._closing = asyncio.Event()
        self.slots = slots if slots is not None else StreamSlots()

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/", self._page("tasks", "Tasks"))
        r.add_get("/schedules", self._page("schedules", "Schedules"))
        r.add_get("/triggers", self._page("triggers", "Triggers"))
        r.add_get("/queue", self._page("queue", "Queue"))
        r.add_get("/tasks/new", self._page("new", "New task"))
        r.add_get("/tasks/{namespace}/{name}", self.task_page)
        r.add_get("/dashboard/assets/dashboard.js",
                  self._asset(load("dashboard.js", "text/javascript")))
        r.add_get("/dashboard/assets/dashboard.css",
                  self._asset(load("dashboard.css", "text/css")))
        r.add_get("/api/dashboard/whoami", _json_errors(self.whoami))
        r.add_get("/api/dashboard/views/{view}", _json_errors(self.view))
        r.add_get("/api/dashboard/stream/{view}", _json_errors(self.stream))
        r.add_post("/api/dashboard/tasks", _json_errors(self.writes.create_task))
        r.add_post("/api/dashboard/tasks/{namespace}/{name}/{action}",
                   _json_errors(self.writes.task_action))
        r.add_post("/api/dashboard/schedules/{namespace}/{name}/run-now",
                   _json_errors(self.writes.run_now))
        if self.sources.queue is not None:
            QueueEndpoint(self.gate, self.sources.queue, self.sources.watches).add_routes(app)
        app.on_shutdown.append(self._shutdown)

    async def _shutdown(self, _app: web.Application) -> None:
        self._closing.set()

    # --- pages and assets -------------------------------------------------------------------
    def _page(self, view: str, title: str) -> Handler:
        html = page(view, title, self.read_only)

        async def handler(_request: web.Request) -> web.StreamResponse:
            return web.Response(text=html, content_type="text/html", headers=SECURITY_HEADERS)

        return handler

    async def task_page(self, request: web.Request) -> web.StreamResponse:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        try:
            check_namespace(namespace, required=True)
            check_name(name)
        except DashboardError as exc:
            raise web.HTTPNotFound(text=exc.message) from None
        html = page("task", name, self.read_only, namespace, name)
        return web.Response(text=html, content_type="text/html", headers=SECURITY_HEADERS)

    @staticmethod
    def _asset(asset: Asset) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return respond(asset, request)

        return handler

    # --- reads ------------------------------------------------------------------------------
    async def _user(self, request: web.Request, action: bool = False) -> UserInfo | None:
        # The TCP peer, not X-Forwarded-For: a header is whatever the caller says it is.
        return await self.gate.identify(request.headers.get("Authorization"), action,
                                        client=request.remote or "")

    async def whoami(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        body = {"user": user.username if user else "", "groups": list(user.groups if user
                                                                       else ()),
                "anonymous": user is None, "readOnlyWithoutToken": self.read_only}
        return web.json_response(body, headers=API_HEADERS)

    async def view(self, request: web.Request) -> web.StreamResponse:
        kind = request.match_info["view"]
        params = view_params(kind, request.query)
        user = await self._user(request)
        payload = await self.views.render(kind, user, params, _base_url(request))
        return web.json_response(payload, headers=API_HEADERS)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        kind = request.match_info["view"]
        params = view_params(kind, request.query)
        user = await self._user(request)
        base = _base_url(request)
        # Subscribed before the first render: a change while it renders is not missed.
        with self.feed.subscribe(relevant_to(kind, params["namespace"])) as changes:
            # 401/403 first: a user without the right to this view holds no slot at all.
            payload = await self.views.render(kind, user, params, base)
            holder = user.username if user else None
            self._take_slot(holder)
            response = web.StreamResponse(headers={
                **API_HEADERS, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
            try:
                await response.prepare(request)
                await self._follow(request, response, kind, params, base, payload, changes)
            except ConnectionError:
                pass  # the browser went away
            finally:
                self.slots.close(holder)
        return response

    def _take_slot(self, holder: str | None) -> None:
        refusal = self.slots.open(holder)
        share = self.slots.share(holder)
        if refusal is Refusal.USER and holder is None:
            raise DashboardError(429, f"anonymous readers already have {share} live dashboards "
                                 "open, the most they may share; sign in, or close one")
        if refusal is Refusal.USER:
            raise DashboardError(429, f"{holder} already has {share} live dashboards open, "
                                 "the most one user may have; close one and reload")
        if refusal is Refusal.FULL:
            raise DashboardError(503, "too many open dashboards; try again later")

    async def _follow(self, request: web.Request, response: web.StreamResponse, kind: str,
                      params: dict[str, str], base: str, payload: dict[str, Any],
                      changes: Subscription) -> None:
        await _send(response, "view", payload)
        rendered = checked = time.monotonic()
        while True:
            now = time.monotonic()
            due = checked + REAUTH_S
            if kind == "task":  # its Events come from the API server, not the feed
                due = min(due, rendered + EVENTS_REFRESH_S)
            if not changes.pending and now < due:
                await self._wait(changes, min(due - now, ALIVE_S))
            if self._closing.is_set() or request.transport is None or \
                    request.transport.is_closing():
                break
            now = time.monotonic()
            if not changes.pending and now < due:
                continue  # only the liveness check was due
            if now - rendered < RENDER_GAP_S:  # coalesce: later changes join this render
                await self._wait(None, RENDER_GAP_S - (now - rendered))
                if self._closing.is_set():
                    break
            changes.take()  # before reading: what changes during the render wakes us again
            try:  # every send is a read: authenticate and authorize again
                user = await self._user(request)
                fresh = await self.views.render(kind, user, params, base)
            except DashboardError as exc:
                await _send(response, "failure", {"status": exc.status, "error": exc.message})
                break
            rendered = checked = time.monotonic()
            if fresh != payload:
                payload = fresh
                await _send(response, "view", payload)
            else:
                await response.write(b": still here\n\n")

    async def _wait(self, changes: Subscription | None, timeout: float) -> None:
        """Until a relevant change (when ``changes`` is given), shutdown, or ``timeout``."""
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._closing.wait())]
        if changes is not None:
            waiters.append(asyncio.ensure_future(changes.wait()))
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


async def _send(response: web.StreamResponse, event: str, data: dict[str, Any]) -> None:
    line = json.dumps(data, separators=(",", ":"))  # one line: JSON escapes newlines
    await response.write(f"event: {event}\ndata: {line}\n\n".encode())
