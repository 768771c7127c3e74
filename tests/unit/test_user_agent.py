"""The client names itself: the API server takes a write's field manager from the part of
the User-Agent before the slash (aiohttp's own made it ``Python``)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestServer

from agenttasks.kube.connection import client_session, user_agent
from agenttasks.kube.kubeconfig import Credentials


def test_every_request_says_agenttasks_and_its_version() -> None:
    seen: list[str] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append(request.headers.get("User-Agent", ""))
        return web.json_response({})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/version", echo)
        server = TestServer(app)
        await server.start_server()
        session = client_session(Credentials(server=str(server.make_url("/")), token="t"))
        try:
            async with session.get(server.make_url("/version")) as response:
                assert response.status == 200
        finally:
            await session.close()
            await server.close()

    asyncio.run(main())
    assert seen == [user_agent()]
    manager, _, release = user_agent().partition("/")
    assert manager == "agenttasks" and release
