"""The visibility API over HTTPS, for the kube-apiserver's aggregator: ``kubectl get
pendingtasks [-n NS | -A]`` (api/visibility.py, documents in manifests/visibility.py).

The API server authenticates the user and authorizes ``list pendingtasks`` in that namespace
(or cluster-wide) with its own RBAC before it proxies the request here; what reaches us is
answered in full. We only make sure that it did come through the aggregator: a client
certificate of the front-proxy CA with an allowed name (core.front_proxy); anything else is
a 401, whatever headers it sends. Computed on request from the operator's memory, as
``GET /api/queue``; nothing is written.

Served on a port of its own because the TLS handshake asks for the client certificate; the
HTTP port stays plain for agents, trigger senders and the dashboard.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from agenttasks.api.visibility import GROUP, RESOURCE, VERSION
from agenttasks.core.front_proxy import NotProxied, RequestHeaderConfig, proxied_user
from agenttasks.core.queue_view import Entry, QueueView
from agenttasks.manifests import visibility as docs

from .views import QueueProvider

log = logging.getLogger("agenttasks.visibility")
BASE = f"/apis/{GROUP}/{VERSION}"
INCLUDE_OBJECT = frozenset({"None", "Metadata", "Object"})


def tls_context(cert_dir: Path, config: RequestHeaderConfig) -> ssl.SSLContext:
    """Serves with ``cert_dir``'s tls.crt and tls.key; asks for a client certificate and,
    when one is sent, verifies it against the front-proxy CA (optional at the handshake, so
    that a request without one gets a 401 that says why instead of a TLS error)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_dir / "tls.crt", cert_dir / "tls.key")
    context.load_verify_locations(cadata=config.client_ca)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def common_name(peercert: Any) -> str | None:
    """The subject CN of a verified peer certificate (``SSLSocket.getpeercert()``'s dict);
    None without a certificate."""
    if not peercert:
        return None
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


def peer_common_name(request: web.Request) -> str | None:
    """The CN of the client certificate the TLS layer verified for this connection."""
    transport = request.transport
    return common_name(transport.get_extra_info("peercert") if transport else None)


def _headers(request: web.Request) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        found.setdefault(name.lower(), []).append(value)
    return found


def _answer(document: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(document, status=status, headers={"Cache-Control": "no-store"})


def _table_or(request: web.Request, entries: list[Entry], view: QueueView,
              document: dict[str, Any]) -> web.Response:
    """kubectl's Table of ``entries`` when the request asks for one, else ``document``."""
    if docs.wants_table(request.headers.get("Accept", "")):
        return _answer(docs.table(entries, view, request.query.get("includeObject",
                                                                   "Metadata")))
    return _answer(document)


def _document(document: dict[str, Any]) -> Callable[[web.Request],
                                                    Awaitable[web.StreamResponse]]:
    async def handle(_request: web.Request) -> web.StreamResponse:
        return _answer(document)
    return handle


class VisibilityApi:
    def __init__(self, config: RequestHeaderConfig, provider: QueueProvider,
                 ready: Callable[[], bool],
                 peer_name: Callable[[web.Request], str | None] = peer_common_name) -> None:
        self.config, self.provider, self.ready = config, provider, ready
        self.peer_name = peer_name

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._front_proxy_only])
        app.router.add_get("/apis", _document(docs.api_group_list()))
        app.router.add_get(f"/apis/{GROUP}", _document(docs.api_group()))
        app.router.add_get(BASE, _document(docs.api_resource_list()))
        app.router.add_get(f"{BASE}/{RESOURCE}", self.list_all)
        app.router.add_get(f"{BASE}/namespaces/{{namespace}}/{RESOURCE}", self.list_namespace)
        app.router.add_get(f"{BASE}/namespaces/{{namespace}}/{RESOURCE}/{{name}}", self.get)
        return app

    @web.middleware
    async def _front_proxy_only(self, request: web.Request,
                                handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        try:
            proxied_user(self.config, self.peer_name(request), _headers(request))
        except NotProxied as exc:
            log.info("visibility API: refused a request from %s: %s", request.remote, exc)
            return _answer(docs.status(401, f"only the kube-apiserver may call this: {exc}"),
                           401)
        if request.method != "GET":
            return _answer(docs.status(405, f"{RESOURCE} are read only"), 405)
        response: web.StreamResponse = await handler(request)
        return response

    async def list_all(self, request: web.Request) -> web.Response:
        return self._list(request, None)

    async def list_namespace(self, request: web.Request) -> web.Response:
        return self._list(request, request.match_info["namespace"])

    def _refusal(self, request: web.Request) -> web.Response | None:
        if request.query.get("watch") in ("true", "1"):
            return _answer(docs.status(405, f"{RESOURCE} cannot be watched: each answer is "
                                       "computed on request"), 405)
        if request.query.get("includeObject", "Metadata") not in INCLUDE_OBJECT:
            return _answer(docs.status(400, "includeObject is None, Metadata or Object"), 400)
        if not self.ready():
            return _answer(docs.status(503, "the operator is starting: its queue is not "
                                       "complete yet"), 503)
        return None

    def _list(self, request: web.Request, namespace: str | None) -> web.Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        view = self.provider.current()
        entries = view.visible(None if namespace is None else frozenset({namespace}))
        return _table_or(request, entries, view, docs.pending_task_list(entries, view))

    async def get(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        view = self.provider.current()
        found = [e for e in view.visible(frozenset({namespace})) if e.name == name]
        if not found:
            return _answer(docs.not_found(name), 404)
        return _table_or(request, found, view, docs.pending_task(found[0]))
