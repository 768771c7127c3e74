"""The visible queue over HTTP: ``GET /api/queue[?namespace=NS]`` on the operator's port, for
``agenttasks queue`` and ``agenttasks describe``; the dashboard's Queue view renders the same.

Who calls is the dashboard gate's business (web/auth.py): a TokenReview of the bearer token,
then SubjectAccessReviews: the answer holds the tasks of the namespaces where that user may
list AgentTasks, and nothing of any other (their tasks still count in the positions, as
they take the same slots, but are not named). Computed on request from the operator's
memory (core.queue_view); nothing is written to the API server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from agenttasks.core.queue_view import Entry, QueueView
from agenttasks.manifests.visibility import entry_fields, queue_facts

from .auth import API_HEADERS, DashboardError, Gate
from .views import QueueProvider, check_namespace

PATH = "/api/queue"
API_VERSION = "agenttasks.io/v1alpha1"


def entry_document(entry: Entry) -> dict[str, Any]:
    return {"namespace": entry.namespace, "name": entry.name, **entry_fields(entry)}


def queue_document(view: QueueView, namespaces: frozenset[str] | None) -> dict[str, Any]:
    """The JSON answer: the entries of ``namespaces`` (None: all) and the queue's facts."""
    return {"apiVersion": API_VERSION, "kind": "PendingTaskList", **queue_facts(view),
            "items": [entry_document(e) for e in view.visible(namespaces)]}


class QueueEndpoint:
    def __init__(self, gate: Gate, provider: QueueProvider,
                 watches: Callable[[str], bool]) -> None:
        self.gate, self.provider, self.watches = gate, provider, watches

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PATH, self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            namespace = check_namespace(request.query.get("namespace", "").strip())
            user = await self.gate.identify(request.headers.get("Authorization"),
                                            client=request.remote or "")
            view = self.provider.current()
            present = {e.namespace for e in view.entries}
            scope = await self.gate.readable(user, "agenttasks", namespace, present)
        except DashboardError as exc:
            return web.json_response({"error": exc.message}, status=exc.status,
                                     headers=API_HEADERS)
        if namespace and not self.watches(namespace):
            return web.json_response(
                {"error": f"the operator does not watch namespace {namespace!r}"},
                status=404, headers=API_HEADERS)
        return web.json_response(queue_document(view, scope), headers=API_HEADERS)
