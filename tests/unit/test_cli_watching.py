"""``list -w``'s watch (kube.watching.watch, through Kube.watch_objects) against a small
in-process HTTP server that speaks the API server's watch wire format: bookmarks move the
resourceVersion on, an ended watch resumes from it, 410 Gone re-lists; and how the CLI's
state follows the events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web

from agenttasks.cli.watching import apply
from agenttasks.kube.client import ApiError, Kube
from agenttasks.kube.kubeconfig import Credentials
from agenttasks.kube.watching import WatchEvent

JSON = dict[str, Any]
PATH = "/apis/agenttasks.io/v1alpha1/namespaces/team/agenttasks"


def obj(name: str, version: str, phase: str = "") -> JSON:
    return {"metadata": {"name": name, "namespace": "team", "resourceVersion": version},
            "status": {"phase": phase}}


def line(kind: str, body: JSON) -> bytes:
    return json.dumps({"type": kind, "object": body}).encode() + b"\n"


async def serve(watches: list[list[bytes] | int], requests: list[dict[str, str]],
                done: asyncio.Event) -> web.AppRunner:
    """Each watch request takes the next script: lines to stream (then the stream ends), or
    an HTTP status to answer. A list answers two objects at resourceVersion 9."""
    async def handle(request: web.Request) -> web.StreamResponse:
        requests.append(dict(request.query))
        if "watch" not in request.query:
            return web.json_response({"metadata": {"resourceVersion": "9"},
                                      "items": [obj("a", "8"), obj("b", "9")]})
        script = watches.pop(0) if watches else []
        if isinstance(script, int):
            return web.json_response({"kind": "Status", "code": script,
                                      "message": f"watch answered {script}"}, status=script)
        response = web.StreamResponse()
        await response.prepare(request)
        for chunk in script:
            await response.write(chunk)
        if not watches:
            await done.wait()  # the last watch stays open until the test ends, as a real one
        return response

    app = web.Application()
    app.router.add_get(PATH, handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


async def collect(watches: list[list[bytes] | int], count: int
                  ) -> tuple[list[WatchEvent], list[dict[str, str]]]:
    requests: list[dict[str, str]] = []
    done = asyncio.Event()
    runner = await serve(watches, requests, done)
    server = f"http://127.0.0.1:{runner.addresses[0][1]}"
    kube = Kube(None, loader=lambda: Credentials(server=server, token="t"))
    events: list[WatchEvent] = []
    try:
        async for event in kube.watch_objects("agenttasks", "team", "1"):
            events.append(event)
            if len(events) == count:
                break
    finally:
        done.set()
        await kube.close()
        await runner.cleanup()
    return events, requests


def test_bookmarks_resume_and_relist_after_gone() -> None:
    watches: list[list[bytes] | int] = [
        [line("ADDED", obj("a", "3")), line("BOOKMARK", {"metadata": {"resourceVersion": "5"}})],
        [line("ERROR", {"kind": "Status", "code": 410, "message": "too old"})],
        [line("MODIFIED", obj("b", "10", "Completed"))],
    ]
    events, requests = asyncio.run(collect(watches, 3))
    assert [(e.type, (e.obj or {}).get("metadata", {}).get("name")) for e in events] == [
        ("ADDED", "a"), ("RELISTED", None), ("MODIFIED", "b")]
    assert [o["metadata"]["name"] for o in events[1].items] == ["a", "b"]
    watched = [(q.get("watch"), q.get("resourceVersion"), q.get("allowWatchBookmarks"))
               for q in requests]
    # From 1; resumed from the bookmark's 5; listed; watched again from the list's 9.
    assert watched == [("1", "1", "true"), ("1", "5", "true"), (None, None, None),
                       ("1", "9", "true")]


def test_a_410_answer_also_relists_and_other_errors_raise() -> None:
    events, _ = asyncio.run(collect([410, [line("DELETED", obj("a", "11"))]], 2))
    assert [e.type for e in events] == ["RELISTED", "DELETED"]
    with pytest.raises(ApiError) as refused:
        asyncio.run(collect([403], 1))
    assert refused.value.status == 403 and "watch answered 403" in refused.value.message


def test_the_cli_state_follows_the_events() -> None:
    state: dict[tuple[str, str], JSON] = {}

    def keep(o: JSON) -> bool:
        return (o.get("status") or {}).get("phase") != "Failed"

    apply(state, WatchEvent("ADDED", obj("a", "1")), keep)
    apply(state, WatchEvent("ADDED", obj("b", "2")), keep)
    apply(state, WatchEvent("MODIFIED", obj("b", "3", "Failed")), keep)  # filtered out now
    assert sorted(state) == [("team", "a")]
    apply(state, WatchEvent("RELISTED", items=(obj("c", "9"), obj("d", "9", "Failed"))), keep)
    assert sorted(state) == [("team", "c")]  # a vanished while the watch was away
    apply(state, WatchEvent("DELETED", obj("c", "10")), keep)
    assert state == {}
