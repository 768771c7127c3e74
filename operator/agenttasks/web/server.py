"""aiohttp application on the operator's HTTP port."""

from __future__ import annotations

from aiohttp import web

from agenttasks.api.trigger import MAX_PAYLOAD_BYTES
from agenttasks.web.hooks import DeliveryService


def build_app(deliveries: DeliveryService | None = None) -> web.Application:
    # Bodies are read by the hook handler itself, chunk by chunk up to each trigger's limit.
    app = web.Application(client_max_size=MAX_PAYLOAD_BYTES + 1)

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app.router.add_get("/healthz", healthz)
    if deliveries is not None:
        app.router.add_post("/hooks/{namespace}/{name}", deliveries.handle)
    return app


async def start_http(port: int, deliveries: DeliveryService | None = None) -> web.AppRunner:
    runner = web.AppRunner(build_app(deliveries), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host="0.0.0.0", port=port)
    await site.start()
    return runner
