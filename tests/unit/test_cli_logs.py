"""``agenttasks logs``: Kube.pod_log against a small in-process HTTP server that speaks the
log endpoint's wire format (chunks of text, or a Status), and how the CLI copies them."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from agenttasks.cli.errors import CliError
from agenttasks.cli.kubeapi import Session
from agenttasks.cli.logs import _copy
from agenttasks.kube.client import Kube
from agenttasks.kube.kubeconfig import Credentials

POD = {"metadata": {"name": "agent-1-x", "namespace": "team"}, "spec": {"nodeName": "n1"}}
CHUNKS = [b"first li", b"ne\nsecond line\nno newline at the end"]


async def copy_from_server(prefix: bytes, status: int = 200) -> list[dict[str, str]]:
    queries: list[dict[str, str]] = []

    async def log(request: web.Request) -> web.StreamResponse:
        queries.append(dict(request.query))
        if status != 200:
            return web.json_response({"kind": "Status", "message": "dial tcp :10250: refused"},
                                     status=status)
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        for chunk in CHUNKS:
            await response.write(chunk)
            await asyncio.sleep(0.01)  # separate chunks on the wire
        return response

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/team/pods/agent-1-x/log", log)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server = f"http://127.0.0.1:{runner.addresses[0][1]}"
    kube = Kube(None, loader=lambda: Credentials(server=server))
    try:
        await _copy(Session(kube, "team"), POD, "agent", True, prefix)
    finally:
        await kube.close()
        await runner.cleanup()
    return queries


def test_lines_of_several_pods_are_prefixed_whole(capsysbinary: pytest.CaptureFixture[bytes]
                                                  ) -> None:
    queries = asyncio.run(copy_from_server(b"[agent-1-x] "))
    assert queries == [{"container": "agent", "follow": "true"}]
    assert capsysbinary.readouterr().out == (b"[agent-1-x] first line\n[agent-1-x] second line\n"
                                             b"[agent-1-x] no newline at the end\n")


def test_one_pod_is_copied_as_it_comes(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    asyncio.run(copy_from_server(b""))
    assert capsysbinary.readouterr().out == b"".join(CHUNKS)


def test_a_kubelet_the_api_server_cannot_reach_is_one_line() -> None:
    with pytest.raises(CliError) as failed:
        asyncio.run(copy_from_server(b"", status=500))
    assert str(failed.value) == (
        "logs of pod agent-1-x are not available: the API server could not get them from the "
        "kubelet of node n1 (dial tcp :10250: refused)")
