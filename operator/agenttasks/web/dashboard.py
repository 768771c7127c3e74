"""The live dashboard on the operator's HTTP port: pages at /, /tasks/<ns>/<name>,
/schedules and /triggers; JSON, streams and actions under /api/dashboard/.

Every API call carries the user's token (``Authorization: Bearer``). A TokenReview says who
the user is; a SubjectAccessReview for that user allows each read and each action before the
operator performs it with its own client. Streams are fetch() requests with the same header
whose body is a text/event-stream. A stream renders again only when the change feed says
something its view shows has changed (at most once per RENDER_GAP_S), and at least every
REAUTH_S seconds; each render re-checks the token and the reviews.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from agenttasks import actions
from agenttasks.api.task import is_terminal
from agenttasks.kube.client import ApiError

from .access import (
    TASK_ACTIONS,
    UserInfo,
    create_task_access,
    run_now_access,
    task_action_access,
)
from .assets import Asset, load, respond
from .auth import DashboardError, Gate
from .feed import ChangeFeed, Subscription, relevant_to
from .pages import SECURITY_HEADERS, page
from .task_form import MAX_BODY_BYTES, FormError, new_task
from .templating import task_path
from .views import (
    EVENTS_REFRESH_S,
    DashboardKube,
    Sources,
    Views,
    check_name,
    check_namespace,
    view_params,
)

log = logging.getLogger("agenttasks.dashboard")
RENDER_GAP_S = 0.25  # a stream renders at most this often: a burst of changes is one render
REAUTH_S = 15.0  # a quiet stream re-checks the token and access at least this often
ALIVE_S = 2.0  # how often a quiet stream looks whether the browser has gone
MAX_STREAMS = 200
API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
DONE = {"pause": "Paused", "resume": "Resumed", "cancel": "Cancelled"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(exc: DashboardError) -> web.Response:
    headers = dict(API_HEADERS)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="agenttasks-dashboard"'
    return web.json_response({"error": exc.message}, status=exc.status, headers=headers)


def _api_failure(exc: ApiError, what: str) -> DashboardError:
    status = exc.status if exc.status in (404, 409, 422) else 502
    return DashboardError(status, f"{what} failed: {exc.message}")


def _json_errors(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except DashboardError as exc:
            return _error(exc)

    return wrapped


class Dashboard:
    def __init__(self, kube: DashboardKube, sources: Sources,
                 read_only_without_token: bool = False, feed: ChangeFeed | None = None) -> None:
        """``feed`` is what wakes the streams; without one, ``sources.feed``."""
        self.kube, self.sources = kube, sources
        self.feed = feed if feed is not None else sources.feed
        self.read_only = read_only_without_token
        self.gate = Gate(kube, read_only_without_token)
        self.views = Views(kube, sources, self.gate)
        self._closing = asyncio.Event()
        self._streams = 0

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/", self._page("tasks", "Tasks"))
        r.add_get("/schedules", self._page("schedules", "Schedules"))
        r.add_get("/triggers", self._page("triggers", "Triggers"))
        r.add_get("/tasks/new", self._page("new", "New task"))
        r.add_get("/tasks/{namespace}/{name}", self.task_page)
        r.add_get("/dashboard/assets/dashboard.js",
                  self._asset(load("dashboard.js", "text/javascript")))
        r.add_get("/dashboard/assets/dashboard.css",
                  self._asset(load("dashboard.css", "text/css")))
        r.add_get("/api/dashboard/whoami", _json_errors(self.whoami))
        r.add_get("/api/dashboard/views/{view}", _json_errors(self.view))
        r.add_get("/api/dashboard/stream/{view}", _json_errors(self.stream))
        r.add_post("/api/dashboard/tasks", _json_errors(self.create_task))
        r.add_post("/api/dashboard/tasks/{namespace}/{name}/{action}",
                   _json_errors(self.task_action))
        r.add_post("/api/dashboard/schedules/{namespace}/{name}/run-now",
                   _json_errors(self.run_now))
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
        return await self.gate.identify(request.headers.get("Authorization"), action)

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
            payload = await self.views.render(kind, user, params, base)  # 401/403 first
            if self._streams >= MAX_STREAMS:
                raise DashboardError(503, "too many open dashboards; try again later")
            response = web.StreamResponse(headers={
                **API_HEADERS, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
            await response.prepare(request)
            self._streams += 1
            try:
                await self._follow(request, response, kind, params, base, payload, changes)
            except ConnectionError:
                pass  # the browser went away
            finally:
                self._streams -= 1
        return response

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

    # --- actions (agenttasks.actions: the same code as the CLI's) ------------------------
    async def task_action(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request, action=True)
        assert user is not None
        action = request.match_info["action"]
        if action not in TASK_ACTIONS:
            raise DashboardError(404, f"no action {action!r}")
        namespace = check_namespace(request.match_info["namespace"], required=True)
        name = check_name(request.match_info["name"])
        await self.gate.require(user, *task_action_access(action, namespace, name))
        if not self.sources.watches(namespace):
            raise DashboardError(404, f"the operator does not watch namespace {namespace!r}")
        if action == "rerun":
            return await self._rerun(user, namespace, name)
        try:
            task = await self.kube.get_object("agenttasks", namespace, name)
            if task is None:
                raise DashboardError(404, f"no AgentTask {namespace}/{name}")
            status = task.get("status") or {}
            if is_terminal(status.get("phase"), status.get("reason")):
                raise DashboardError(409, f"{namespace}/{name} is already "
                                     f"{status.get('phase')}; rerun it instead")
            await actions.change_task(self.kube, _task_action(action), namespace, name)
        except ApiError as exc:
            raise _api_failure(exc, f"{action} {namespace}/{name}") from None
        log.info("dashboard: %s %s %s/%s", user.username, DONE[action].lower(), namespace, name)
        return web.json_response({"message": f"{DONE[action]} {namespace}/{name}."},
                                 headers=API_HEADERS)

    async def _rerun(self, user: UserInfo, namespace: str, name: str) -> web.StreamResponse:
        try:
            created = await actions.rerun(self.kube, namespace, name,
                                          requested_by=user.username)
        except actions.NotFound:
            raise DashboardError(404, f"no AgentTask {namespace}/{name}") from None
        except ApiError as exc:
            raise _api_failure(exc, f"rerun {namespace}/{name}") from None
        new = str(created["metadata"]["name"])
        log.info("dashboard: %s reran %s/%s as %s", user.username, namespace, name, new)
        return web.json_response(
            {"message": f"Created {namespace}/{new}, a rerun of {name}.", "name": new,
             "url": task_path(namespace, new)}, status=201, headers=API_HEADERS)

    async def run_now(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request, action=True)
        assert user is not None
        namespace = check_namespace(request.match_info["namespace"], required=True)
        name = check_name(request.match_info["name"])
        await self.gate.require(user, run_now_access(namespace, name))
        if not self.sources.watches(namespace):
            raise DashboardError(404, f"the operator does not watch namespace {namespace!r}")
        try:
            if await self.kube.get_object("agenttaskschedules", namespace, name) is None:
                raise DashboardError(404, f"no AgentTaskSchedule {namespace}/{name}")
            token, task = await actions.run_now(self.kube, namespace, name)
        except ApiError as exc:
            raise _api_failure(exc, f"run {namespace}/{name} now") from None
        log.info("dashboard: %s ran schedule %s/%s now", user.username, namespace, name)
        return web.json_response(
            {"message": f"Asked {namespace}/{name} to run now.", "token": token,
             "task": task}, headers=API_HEADERS)

    # --- a new task (the form) --------------------------------------------------------------
    async def create_task(self, request: web.Request) -> web.StreamResponse:
        """Checks, in order: the token; the form (400); ``create agenttasks`` for this user
        in the namespace (403); that the operator watches it (404); a server-side dry run
        (the API server's validation and admission, 422 with its message); then creates."""
        user = await self._user(request, action=True)
        assert user is not None
        payload = await _json_body(request, MAX_BODY_BYTES)
        try:
            manifest = new_task(payload, user.username)
        except FormError as exc:
            raise DashboardError(400, exc.message) from None
        namespace = str(manifest["metadata"]["namespace"])
        name = str(manifest["metadata"]["name"])
        await self.gate.require(user, create_task_access(namespace))
        if not self.sources.watches(namespace):
            raise DashboardError(404, f"the operator does not watch namespace {namespace!r}")
        for dry_run in (True, False):  # the name is chosen here: the same in both
            try:
                await self.kube.create_object("agenttasks", manifest, dry_run=dry_run)
            except ApiError as exc:
                raise _refused(exc, namespace, name, dry_run) from None
        log.info("dashboard: %s created %s/%s", user.username, namespace, name)
        return web.json_response(
            {"message": f"Created {namespace}/{name}.", "namespace": namespace, "name": name,
             "url": task_path(namespace, name)}, status=201, headers=API_HEADERS)


def _refused(exc: ApiError, namespace: str, name: str, dry_run: bool) -> DashboardError:
    """The API server's answer to a create: its message, and a status that says whose
    move it is (422: fix the task; 409: the name is taken; 502: the operator's problem)."""
    status = 409 if exc.status == 409 else 422 if exc.status in (400, 403, 422) else 502
    when = " (dry run)" if dry_run else ""
    return DashboardError(status, f"the API server refused {namespace}/{name}{when}: "
                          f"{exc.message}")


async def _json_body(request: web.Request, limit: int) -> dict[str, Any]:
    """The request's JSON object, read up to ``limit`` bytes (413 beyond)."""
    if request.content_type != "application/json":
        raise DashboardError(415, "send the task as application/json")
    if request.content_length is not None and request.content_length > limit:
        raise DashboardError(413, f"the request is larger than {limit // 1024} KiB")
    data = bytearray()
    async for chunk in request.content.iter_chunked(16 * 1024):
        data += chunk
        if len(data) > limit:
            raise DashboardError(413, f"the request is larger than {limit // 1024} KiB")
    try:
        body = json.loads(data)
    except ValueError:
        raise DashboardError(400, "the request is not JSON") from None
    if not isinstance(body, dict):
        raise DashboardError(400, "the request must be a JSON object")
    return body


def _task_action(action: str) -> actions.TaskAction:
    for known in actions.TASK_ACTIONS:  # narrows the URL's word to the action's type
        if known == action:
            return known
    raise DashboardError(404, f"no action {action!r}")


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


async def _send(response: web.StreamResponse, event: str, data: dict[str, Any]) -> None:
    line = json.dumps(data, separators=(",", ":"))  # one line: JSON escapes newlines
    await response.write(f"event: {event}\ndata: {line}\n\n".encode())
