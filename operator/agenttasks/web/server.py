"""aiohttp application on the operator's HTTP port."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agenttasks import metrics
from agenttasks.api.trigger import MAX_PAYLOAD_BYTES
from agenttasks.web.dashboard import Dashboard
from agenttasks.web.hooks import DeliveryService
from agenttasks.web.progress_endpoint import ProgressEndpoint


def build_app(deliveries: DeliveryService | None = None,
              ready: Callable[[], bool] = lambda: True,
              dashboard: Dashboard | None = None,
              progress: ProgressEndpoint | None = None) -> web.Application:
    # Bodies are read by the hook handler itself, chunk by chunk up to each trigger's limit.
    app = web.Application(client_max_size=MAX_PAYLOAD_BYTES + 1)

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_request: web.Request) -> web.Response:
        # Ready once the indexes are populated: before that, counts and queues are partial.
        if ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="indexes not populated yet\n")

    async def metrics_page(_request: web.Request) -> web.Response:
        body = generate_latest(metrics.REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    if deliveries is not None:
        app.router.add_post("/hooks/{namespace}/{name}", deliveries.handle)
    if progress is not None:
        app.router.add_post("/progress/{namespace}/{task}", progress.handle)
    if dashboard is not None:
        dashboard.add_routes(app)
    return app


async def start_http(port: int, deliveries: DeliveryService | None = None,
                     ready: Callable[[], bool] = lambda: True,
                     dashboard: Dashboard | None = None,
                     progress: ProgressEndpoint | None = None) -> web.AppRunner:
    # No access log: it would hold dashboard URLs, and the dashboard's own log says who did
    # what (never with a token).
    runner = web.AppRunner(build_app(deliveries, ready, dashboard, progress), access_log=None,
                           shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, host="0.0.0.0", port=port)
    await site.start()
    return runner
