"""The visibility API's HTTPS port (web/visibility_server.py) with real TLS: it opens once
the front-proxy configuration can be read, verifies the client certificate against the CA
read there, and follows a changed list of allowed names without a restart."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from pathlib import Path

import aiohttp

from agenttasks.devcluster.pki import (
    FRONT_PROXY_CLIENT,
    ensure_ca,
    ensure_client_cert,
    ensure_front_proxy,
    ensure_serving_cert,
)
from agenttasks.web.visibility_api import BASE
from agenttasks.web.visibility_server import VisibilityServer

from .test_queue_endpoint import FixedQueue


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _status(port: int, ca: Path, client: tuple[Path, Path] | None) -> int:
    context = ssl.create_default_context(cafile=str(ca))
    if client:
        context.load_cert_chain(*client)
    async with aiohttp.ClientSession() as http, http.get(
            f"https://localhost:{port}{BASE}", ssl=context,
            headers={"X-Remote-User": "alice"}) as answer:
        return answer.status


async def _until(check: object, what: str) -> None:
    for _ in range(200):
        if callable(check) and check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(what)


def test_serves_once_configured_and_follows_the_allowed_names(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path, "test-ca")
    serving = ensure_serving_cert(tmp_path, "serving", ("localhost",))
    proxy_ca, proxy_crt, proxy_key = ensure_front_proxy(tmp_path)
    published: dict[str, str] = {}  # empty: not published yet

    async def read() -> dict[str, str]:
        if not published:
            raise LookupError("not published yet")
        return dict(published)

    async def main() -> None:
        port = _free_port()
        server = VisibilityServer(port, serving, read, FixedQueue(), lambda: True,
                                  retry_s=0.02, refresh_s=0.02)
        task = asyncio.create_task(server.run())
        try:
            await asyncio.sleep(0.1)
            assert not server.serving
            published.update({"requestheader-client-ca-file": proxy_ca.read_text(),
                              "requestheader-allowed-names": json.dumps([FRONT_PROXY_CLIENT])})
            await _until(lambda: server.serving, "serving once the configuration is there")
            assert await _status(port, ca, (proxy_crt, proxy_key)) == 200
            assert await _status(port, ca, None) == 401
            # The proxy's name on a certificate of another CA: refused at the handshake.
            imposter = ensure_client_cert(tmp_path, "imposter", f"/CN={FRONT_PROXY_CLIENT}")
            try:
                await _status(port, ca, imposter)
                raise AssertionError("a certificate of another CA was accepted")
            except aiohttp.ClientError:
                pass
            published["requestheader-allowed-names"] = json.dumps(["another-proxy"])
            await _until(lambda: server.api is not None and
                         server.api.config.allowed_names == ("another-proxy",),
                         "the new allowed names")
            assert await _status(port, ca, (proxy_crt, proxy_key)) == 401
        finally:
            task.cancel()
            await server.stop()

    asyncio.run(main())
