"""aiohttp applications: the HTTP port (health, and what the process serves), and
/metrics on a port of its own when one is given."""

from __future__ import annotations

import ssl
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agenttasks import metrics
from agenttasks.api.trigger import MAX_PAYLOAD_BYTES
from agenttasks.web.count_intake import PATH as INTAKE_PATH
from agenttasks.web.count_intake import CountIntake
from agenttasks.web.dashboard import Dashboard
from agenttasks.web.hooks import DeliveryService
from agenttasks.web.progress_endpoint import ProgressEndpoint


async def _metrics_page(_request: web.Request) -> web.Response:
    body = generate_latest(metrics.REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_app(deliveries: DeliveryService | None = None,
              ready: Callable[[], bool] = lambda: True,
              dashboard: Dashboard | None = None,
              progress: ProgressEndpoint | None = None, *,
              intake: CountIntake | None = None,
              serve_metrics: bool = True) -> web.Application:
    """Without ``deliveries``, /hooks/ is not served (404): a split receiver serves it.
    ``serve_metrics`` False: /metrics is on its own port (build_metrics_app)."""
    # Bodies are read by the hook handler itself, chunk by chunk up to each trigger's limit.
    app = web.Application(client_max_size=MAX_PAYLOAD_BYTES + 1)

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_request: web.Request) -> web.Response:
        # Ready once the indexes are populated: before that, counts and queues are partial.
        if ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="indexes not populated yet\n")

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if serve_metrics:
        app.router.add_get("/metrics", _metrics_page)
    if deliveries is not None:
        app.router.add_post("/hooks/{namespace}/{name}", deliveries.handle)
    if progress is not None:
        app.router.add_post("/progress/{namespace}/{task}", progress.handle)
    if intake is not None:
        app.router.add_post(INTAKE_PATH, intake.handle)
    if dashboard is not None:
        dashboard.add_routes(app)
    return app


def build_metrics_app() -> web.Application:
    """/metrics alone, for a port that only Prometheus reaches."""
    app = web.Application()
    app.router.add_get("/metrics", _metrics_page)
    return app


async def serve(app: web.Application, port: int,
                ssl_context: ssl.SSLContext | None = None) -> web.AppRunner:
    # No access log: it would hold dashboard URLs, and the dashboard's own log says who did
    # what (never with a token).
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, host="0.0.0.0", port=port, ssl_context=ssl_context)
    await site.start()
    return runner


async def start_http(port: int, deliveries: DeliveryService | None = None,
                     ready: Callable[[], bool] = lambda: True,
                     dashboard: Dashboard | None = None,
                     progress: ProgressEndpoint | None = None, *,
                     intake: CountIntake | None = None,
                     metrics_port: int | None = None) -> list[web.AppRunner]:
    """The HTTP port, and /metrics on ``metrics_port`` instead when it is given."""
    runners = [await serve(build_app(deliveries, ready, dashboard, progress, intake=intake,
                                     serve_metrics=metrics_port is None), port)]
    if metrics_port is not None:
        runners.append(await serve(build_metrics_app(), metrics_port))
    return runners
