"""The informers' indexes (one pair per key until a second object contributes), what an
informer keeps of each object it delivers, and its paged listing (reading ahead)."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

from aiohttp import web

from agenttasks.controller.index import Index
from agenttasks.kube.client import Kube
from agenttasks.kube.connection import Connection
from agenttasks.kube.kubeconfig import Credentials
from agenttasks.kube.watching import Informer, Resource, _continue_of, _seen, _vanished


def body(uid: str, *keys: str) -> dict[str, Any]:
    return {"metadata": {"uid": uid, "name": uid, "namespace": "ns"}, "keys": list(keys)}


def by_keys(b: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {("ns", k): b["metadata"]["uid"] for k in b["keys"]}


def test_contributions_are_replaced_and_removed_per_object() -> None:
    index: Index[str] = Index(by_keys)
    index.apply("ADDED", body("u1", "a"))
    assert list(index[("ns", "a")]) == ["u1"]
    index.apply("ADDED", body("u2", "a", "b"))  # a second contributor to "a"
    assert sorted(index[("ns", "a")]) == ["u1", "u2"] and list(index[("ns", "b")]) == ["u2"]
    index.apply("MODIFIED", body("u2", "b"))  # u2 no longer names "a"
    assert list(index[("ns", "a")]) == ["u1"]
    index.apply("DELETED", body("u1"))
    assert ("ns", "a") not in index and list(index) == [("ns", "b")]
    index.apply("MODIFIED", body("u2"))  # contributes nothing now
    assert len(index) == 0


def test_the_last_of_several_contributors_leaves_the_key_alone() -> None:
    index: Index[str] = Index(by_keys)
    for uid in ("u1", "u2", "u3"):
        index.apply("ADDED", body(uid, "a"))
    for uid in ("u2", "u1"):
        index.apply("DELETED", body(uid))
    assert list(index[("ns", "a")]) == ["u3"]
    index.apply("DELETED", body("u2"))  # already gone: nothing changes
    assert list(index[("ns", "a")]) == ["u3"]


def test_an_informer_keeps_a_small_record_and_reports_a_vanished_object_from_it() -> None:
    meta = {"uid": "u", "name": "t", "namespace": "team", "labels": {"a/b": "c"},
            "managedFields": [{"manager": "x"}]}
    seen = _seen(meta)
    assert seen == ("team", "t", (("a/b", "c"),))
    assert _vanished("u", seen) == {"uid": "u", "name": "t", "namespace": "team",
                                    "labels": {"a/b": "c"}}
    assert _vanished("u", _seen({"uid": "u", "name": "n"})) == {
        "uid": "u", "name": "n", "labels": {}}


def test_a_listing_page_is_delivered_without_managed_fields_and_the_collector_resumes() -> None:
    got: list[tuple[str, dict[str, Any]]] = []
    informer = Informer(Connection(None), Resource("g", "v1", "things"), None,
                        lambda kind, b: got.append((kind, b)))
    page = {"metadata": {"resourceVersion": "9", "continue": "c"}, "items": [
        {"metadata": {"uid": "u1", "name": "a", "namespace": "n",
                      "managedFields": [{"manager": "kubectl"}]}}]}
    uids: set[str] = set()
    assert gc.isenabled()
    assert informer.take_page(json.dumps(page).encode(), uids) == page["metadata"]
    assert gc.isenabled() and uids == {"u1"}
    assert got == [("ADDED", {"metadata": {"uid": "u1", "name": "a", "namespace": "n"}})]
    informer.take_page(json.dumps(page).encode(), uids)
    assert got[-1][0] == "MODIFIED"  # known from the earlier page


def _page(names: list[str], token: str, metadata_last: bool) -> bytes:
    items = [{"metadata": {"uid": f"u-{n}", "name": n, "namespace": "team"}} for n in names]
    meta = {"resourceVersion": "9", **({"continue": token} if token else {})}
    if metadata_last:  # as the API server encodes lists of custom resources (keys sorted)
        return json.dumps({"apiVersion": "g/v1", "items": items, "kind": "ThingList",
                           "metadata": meta}).encode()
    return json.dumps({"kind": "JobList", "apiVersion": "batch/v1", "metadata": meta,
                       "items": items}).encode()


def test_a_pages_continue_token_is_read_from_its_tail_when_the_list_ends_with_it() -> None:
    assert _continue_of(_page(["a"], "next", metadata_last=True)) == "next"
    assert _continue_of(_page(["a"], "", metadata_last=True)) == ""
    assert _continue_of(_page(["a"], "next", metadata_last=False)) == ""  # read after parsing
    assert _continue_of(b'{"items": [{"metadata": {"continue": "x"}}]}') == ""
    assert _continue_of(b"not json") == ""


def _list_through(metadata_last: bool) -> tuple[list[str], list[str]]:
    """Three pages listed by an informer from a small server: (names delivered, tokens
    asked for)."""
    pages = {"": (["a", "b"], "t1"), "t1": (["c"], "t2"), "t2": (["d"], "")}
    asked: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        token = request.query.get("continue", "")
        asked.append(token)
        # Uncompressed: near the API server gzip costs more CPU than the bytes it saves.
        assert request.headers.get("Accept-Encoding") == "identity"
        names, following = pages[token]
        return web.Response(body=_page(names, following, metadata_last),
                            content_type="application/json")

    async def main() -> list[str]:
        app = web.Application()
        app.router.add_get("/apis/g/v1/namespaces/team/things", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        server = f"http://127.0.0.1:{runner.addresses[0][1]}"
        kube = Kube(None, loader=lambda: Credentials(server=server, token="t"))
        got: list[str] = []
        informer = Informer(kube.connection, Resource("g", "v1", "things"), "team",
                            lambda kind, b: got.append(b["metadata"]["name"]))
        try:
            assert await informer._list() == "9"
        finally:
            await kube.close()
            await runner.cleanup()
        return got

    return asyncio.run(main()), asked


def test_a_listing_asks_for_each_page_once_whether_or_not_it_reads_ahead() -> None:
    for metadata_last in (True, False):
        assert _list_through(metadata_last) == (["a", "b", "c", "d"], ["", "t1", "t2"])
