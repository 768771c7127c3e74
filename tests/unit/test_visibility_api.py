"""The visibility API's answers (manifests/visibility.py, web/visibility_api.py): discovery
for the aggregator, PendingTask objects and kubectl's Table from the queue view, metav1
Status errors, and a 401 for anything that did not come through the front proxy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from agenttasks.api.visibility import GROUP_VERSION
from agenttasks.core.queue_view import Estimate
from agenttasks.manifests import visibility as docs
from agenttasks.web.visibility_api import BASE, VisibilityApi, common_name

from .http_client import with_client
from .test_dashboard_http import T0
from .test_front_proxy import CONFIG
from .test_queue_endpoint import FixedQueue, queue_view

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
PROXIED = {"X-Remote-User": "alice", "X-Remote-Group": "team-a"}


def test_discovery_names_one_read_only_namespaced_resource() -> None:
    listed = docs.api_resource_list()
    assert listed["groupVersion"] == GROUP_VERSION
    [resource] = listed["resources"]
    assert (resource["name"], resource["kind"], resource["namespaced"], resource["verbs"]) == \
        ("pendingtasks", "PendingTask", True, ["get", "list"])


def test_the_table_has_kubectls_columns_in_queue_order() -> None:
    view = queue_view()
    table = docs.table(view.entries, view)
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names[:5] == ["Name", "Position", "Priority", "Reason", "ETA"]
    assert all(len(r["cells"]) == len(names) for r in table["rows"])
    assert [r["cells"][0] for r in table["rows"]] == [e.name for e in view.entries]
    assert table["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"name": "mine", "namespace": "a"}}
    assert docs.table(view.entries, view, "Object")["rows"][0]["object"]["kind"] == \
        "PendingTask"
    assert docs.table(view.entries, view, "None")["rows"][0]["object"] is None


def test_the_eta_cell_is_relative_to_the_view() -> None:
    eta = Estimate(T0 + timedelta(minutes=2), T0 + timedelta(minutes=1),
                   T0 + timedelta(minutes=4))
    assert docs.eta_text(eta, T0) == "in 2m (60s-4m)"
    assert docs.eta_text(Estimate(T0, T0, T0), T0 + timedelta(seconds=1)) == "now"
    assert docs.eta_text(None, T0) == "<none>"


def test_only_kubectls_table_accept_header_asks_for_a_table() -> None:
    assert docs.wants_table(TABLE)
    assert not docs.wants_table("application/json")
    assert not docs.wants_table("application/json;as=Table;v=v1beta1;g=meta.k8s.io")


def run(test: Callable[[TestClient[Any, Any]], Awaitable[None]], ready: bool = True) -> None:
    def peer(request: web.Request) -> str | None:  # stands in for the verified certificate
        return request.headers.get("X-Test-Peer")

    with_client(VisibilityApi(CONFIG, FixedQueue(), lambda: ready, peer_name=peer).build_app(),
                test)


def proxied(**extra: str) -> dict[str, str]:
    return {"X-Test-Peer": "front-proxy-client", **PROXIED, **extra}


def test_lists_tables_and_gets_through_the_front_proxy() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        everything = await (await client.get(f"{BASE}/pendingtasks", headers=proxied())).json()
        assert everything["kind"] == "PendingTaskList"
        assert [i["metadata"]["name"] for i in everything["items"]] == \
            [e.name for e in queue_view().entries]
        mine = await (await client.get(f"{BASE}/namespaces/a/pendingtasks",
                                       headers=proxied())).json()
        assert [i["metadata"]["name"] for i in mine["items"]] == ["mine", "later"]
        assert mine["items"][0]["position"] == 1
        table = await (await client.get(f"{BASE}/namespaces/a/pendingtasks",
                                        headers=proxied(Accept=TABLE))).json()
        assert table["kind"] == "Table" and [r["cells"][0] for r in table["rows"]] == \
            ["mine", "later"]
        one = await client.get(f"{BASE}/namespaces/a/pendingtasks/later", headers=proxied())
        assert (await one.json())["metadata"] == {"name": "later", "namespace": "a"}
        missing = await client.get(f"{BASE}/namespaces/b/pendingtasks/mine", headers=proxied())
        body = await missing.json()
        assert (missing.status, body["kind"], body["reason"]) == (404, "Status", "NotFound")
        discovery = await client.get(BASE, headers=proxied())
        assert (await discovery.json())["kind"] == "APIResourceList"
    run(check)


def test_refuses_what_did_not_come_through_the_front_proxy() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        for headers in ({**PROXIED}, {"X-Test-Peer": "intruder", **PROXIED},
                        {"X-Test-Peer": "front-proxy-client"}):
            for path in (f"{BASE}/pendingtasks", BASE):
                answer = await client.get(path, headers=headers)
                body = await answer.json()
                assert (answer.status, body["reason"]) == (401, "Unauthorized"), headers
    run(check)


def test_watch_writes_and_a_starting_operator_get_clear_errors() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        watch = await client.get(f"{BASE}/pendingtasks?watch=true", headers=proxied())
        assert watch.status == 405 and "cannot be watched" in (await watch.json())["message"]
        write = await client.post(f"{BASE}/namespaces/a/pendingtasks", headers=proxied())
        assert write.status == 405
    run(check)

    async def starting(client: TestClient[Any, Any]) -> None:
        answer = await client.get(f"{BASE}/pendingtasks", headers=proxied())
        assert answer.status == 503 and "starting" in (await answer.json())["message"]
        assert (await client.get(BASE, headers=proxied())).status == 200  # still available
    run(starting, ready=False)


def test_the_common_name_of_a_verified_certificate() -> None:
    cert = {"subject": ((("organizationName", "x"),), (("commonName", "front-proxy-client"),))}
    assert common_name(cert) == "front-proxy-client"
    assert common_name(None) is None and common_name({}) is None
    assert common_name({"subject": ((("organizationName", "x"),),)}) == ""
