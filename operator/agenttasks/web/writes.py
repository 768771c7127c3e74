"""The dashboard's writes: pause, resume, cancel, rerun and run-now (agenttasks.actions, the
same code as the CLI's), and a new task from the form. Each is allowed by a
SubjectAccessReview for the signed-in user first, then written with the operator's client;
the operator's log names the user.

A rerun, a run-now and a new task each make the operator create a task whose template will
run, and the admission webhook does not check the operator's own writes (it lacks those
rights by design): so the user is checked here for what the template needs, as admission
would check them for `kubectl create` (core.privilege.run_access)."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from agenttasks import actions
from agenttasks.api.task import is_terminal
from agenttasks.core.privilege import UserInfo, run_access
from agenttasks.kube.client import ApiError

from .access import (
    TASK_ACTIONS,
    create_task_access,
    run_now_access,
    task_action_access,
)
from .auth import API_HEADERS, DashboardError, Gate
from .task_form import MAX_BODY_BYTES, FormError, new_task
from .templating import task_path
from .views import DashboardKube, Sources, check_name, check_namespace

log = logging.getLogger("agenttasks.dashboard")
DONE = {"pause": "Paused", "resume": "Resumed", "cancel": "Cancelled"}
KINDS = {"agenttasks": "AgentTask", "agenttaskschedules": "AgentTaskSchedule"}


class Writes:
    def __init__(self, kube: DashboardKube, gate: Gate, sources: Sources) -> None:
        self.kube, self.gate, self.sources = kube, gate, sources

    async def _user(self, request: web.Request) -> UserInfo:
        """The signed-in user: every write needs a token, even in read-only mode."""
        user = await self.gate.identify(request.headers.get("Authorization"), action=True,
                                        client=request.remote or "")
        assert user is not None  # identify(action=True) never answers anonymous
        return user

    async def task_action(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        action = request.match_info["action"]
        if action not in TASK_ACTIONS:
            raise DashboardError(404, f"no action {action!r}")
        namespace = check_namespace(request.match_info["namespace"], required=True)
        name = check_name(request.match_info["name"])
        await self.gate.require(user, *task_action_access(action, namespace, name))
        if not self.sources.watches(namespace):
            raise DashboardError(404, f"the operator does not watch namespace {namespace!r}")
        if action == "rerun":
            await self._require_template_rights(user, "agenttasks", namespace, name)
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

    async def _require_template_rights(self, user: UserInfo, plural: str, namespace: str,
                                       name: str) -> None:
        """A 403 unless ``user`` may run the pod template of this task or schedule."""
        try:
            found = await self.kube.get_object(plural, namespace, name)
        except ApiError as exc:
            raise _api_failure(exc, f"read {namespace}/{name}") from None
        if found is None:
            raise DashboardError(404, f"no {KINDS[plural]} {namespace}/{name}")
        spec = found.get("spec") or {}
        if plural != "agenttasks":
            spec = (spec.get("taskTemplate") or {}).get("spec") or {}
        await self.gate.require(user, *run_access(namespace, spec.get("template") or {}))

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
        user = await self._user(request)
        namespace = check_namespace(request.match_info["namespace"], required=True)
        name = check_name(request.match_info["name"])
        await self.gate.require(user, run_now_access(namespace, name))
        if not self.sources.watches(namespace):
            raise DashboardError(404, f"the operator does not watch namespace {namespace!r}")
        await self._require_template_rights(user, "agenttaskschedules", namespace, name)
        try:
            token, task = await actions.run_now(self.kube, namespace, name)
        except ApiError as exc:
            raise _api_failure(exc, f"run {namespace}/{name} now") from None
        log.info("dashboard: %s ran schedule %s/%s now", user.username, namespace, name)
        return web.json_response(
            {"message": f"Asked {namespace}/{name} to run now.", "token": token,
             "task": task}, headers=API_HEADERS)

    async def create_task(self, request: web.Request) -> web.StreamResponse:
        """Checks, in order: the token; the form (400); ``create agenttasks`` for this user
        in the namespace (403); that the operator watches it (404); a server-side dry run
        (the API server's validation and admission, 422 with its message); then creates."""
        user = await self._user(request)
        payload = await _json_body(request, MAX_BODY_BYTES)
        try:
            manifest = new_task(payload, user.username)
        except FormError as exc:
            raise DashboardError(400, exc.message) from None
        namespace = str(manifest["metadata"]["namespace"])
        name = str(manifest["metadata"]["name"])
        await self.gate.require(user, create_task_access(namespace),
                                *run_access(namespace, manifest["spec"]["template"]))
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


def _api_failure(exc: ApiError, what: str) -> DashboardError:
    status = exc.status if exc.status in (404, 409, 422) else 502
    return DashboardError(status, f"{what} failed: {exc.message}")


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
