"""The operator's API calls: paths, patch content types and error answers, against a small
in-process HTTP server standing in for the API server's wire format (not its behaviour)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from agenttasks.kube.client import ApiError, Kube

Seen = list[tuple[str, str, str, Any]]


async def _serve(seen: Seen) -> web.AppRunner:
    async def handle(request: web.Request) -> web.Response:
        body = await request.text()
        seen.append((request.method, request.path_qs, request.content_type,
                     json.loads(body) if body else None))
        if request.path.endswith("/missing"):
            return web.json_response({"kind": "Status", "reason": "NotFound",
                                      "message": "jobs.batch \"missing\" not found"}, status=404)
        if request.method == "POST" and request.path.endswith("/jobs"):
            return web.json_response({"kind": "Status", "reason": "Invalid",
                                      "message": "spec.template.spec.containers: Required value"},
                                     status=422)
        return web.json_response({"metadata": {"resourceVersion": "7"}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def _kubeconfig(tmp_path: Path, port: int) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    return str(path)


def test_calls_errors_and_patches(tmp_path: Path) -> None:
    seen: Seen = []

    async def scenario() -> None:
        runner = await _serve(seen)
        port = runner.addresses[0][1]
        kube = Kube(_kubeconfig(tmp_path, port))
        try:
            with pytest.raises(ApiError) as refused:
                await kube.create_job({"metadata": {"name": "j", "namespace": "ns"}})
            assert refused.value.invalid and "containers" in refused.value.message
            assert await kube.get_job("ns", "missing") is None
            await kube.delete_job("ns", "missing")  # already gone is fine
            written = await kube.patch_status("agenttasks", "ns", "t", {"phase": "Completed"})
            assert written["metadata"]["resourceVersion"] == "7"
        finally:
            await kube.close()
            await runner.cleanup()

    asyncio.run(scenario())
    assert seen[0][:2] == ("POST", "/apis/batch/v1/namespaces/ns/jobs?fieldValidation=Strict")
    assert seen[1][:2] == ("GET", "/apis/batch/v1/namespaces/ns/jobs/missing")
    # Foreground: a Job being deleted holds its slot until its pods are gone (core/slots.py).
    assert seen[2][0] == "DELETE" and seen[2][3] == {"propagationPolicy": "Foreground"}
    assert seen[3] == ("PATCH", "/apis/agenttasks.io/v1alpha1/namespaces/ns/agenttasks/t/status",
                       "application/merge-patch+json", {"status": {"phase": "Completed"}})
