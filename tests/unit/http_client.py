"""One aiohttp test client around an application, for the tests of our HTTP handlers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

Client = TestClient[Any, Any]


def with_client(app: web.Application, test: Callable[[Client], Awaitable[None]]) -> None:
    """Runs ``test`` against ``app`` served on a local port, then closes both."""
    async def main() -> None:
        client: Client = TestClient(TestServer(app))
        await client.start_server()
        try:
            await test(client)
        finally:
            await client.close()

    asyncio.run(main())
