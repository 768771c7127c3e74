"""The visibility API through the real kube-apiserver's aggregator: `kubectl get pendingtasks`
shows the queue (the same positions and reasons as the operator's /api/queue), the API
server's RBAC decides who may list which namespace, `agenttasks queue` and `describe` read it
when no operator URL is given, and the operator's port answers nobody but the aggregator
(its front-proxy client certificate), whatever headers a caller sends."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from agenttasks.api.visibility import APISERVICE_NAME, GROUP_VERSION
from agenttasks.devcluster.pki import ensure_ca, ensure_serving_cert
from agenttasks.devcluster.visibility import SERVICE_DNS, as_list, host_address, objects

from .harness import (
    Api,
    Operator,
    chart_credentials,
    free_port,
    kubectl,
    pod_template,
    user_credentials,
    wait_for,
)
from .test_cli import agenttasks, one_line_error
from .test_queue_view import _queue

READ_QUEUE = [{"apiGroups": ["visibility.agenttasks.io"], "resources": ["pendingtasks"],
               "verbs": ["get", "list"]}]
READ_TASKS = {"apiGroups": ["agenttasks.io"], "resources": ["agenttasks"],  # for describe
              "verbs": ["get", "list"]}


def _available(kubeconfig: str) -> bool:
    shown = kubectl(kubeconfig, "get", "apiservice", APISERVICE_NAME, "-o", "json",
                    check=False)
    if shown.returncode != 0:
        return False
    conditions = json.loads(shown.stdout).get("status", {}).get("conditions", [])
    return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)


def _pending(kubeconfig: str, *args: str) -> dict[str, Any]:
    shown = kubectl(kubeconfig, "get", "pendingtasks", "-o", "json", *args)
    document: dict[str, Any] = json.loads(shown.stdout)
    return document


def test_kubectl_get_pendingtasks(api: Api, own_ns: str, tmp_path: Path) -> None:
    ns, other = own_ns, api.create_namespace("own")
    pki = tmp_path / "pki"
    ca = ensure_ca(pki, "agenttasks-visibility-test-ca")
    serving = ensure_serving_cert(pki, "serving", (SERVICE_DNS,))
    port = free_port()
    registered = as_list(objects(port, ca.read_bytes(), host_address()))
    credentials = chart_credentials(api, "agenttasks-vis", "agenttasks-system",
                                    "visibilityAPI.enabled=true")
    for name, priority in (("block", 10), ("q-a", 5), ("q-b", 3)):
        api.create_task(ns, {"metadata": {"name": name}, "spec": {
            "priority": priority, "template": pod_template("1h" if name == "block" else "1s")}})
    proc = Operator(credentials, [ns, other], "visibility",
                    ["--max-running", "1", "--visibility-port", str(port),
                     "--visibility-cert-dir", str(serving)]).start()
    try:
        kubectl(api.kubeconfig, "apply", "-f", "-", stdin=registered)
        wait_for(lambda: api.jobs(ns, "block"), 60, what="block started")
        api.create_task(other, {"metadata": {"name": "elsewhere"},
                                "spec": {"template": pod_template()}})
        for task_ns, name in ((ns, "q-b"), (other, "elsewhere")):
            wait_for(lambda n=name, t=task_ns: api.status(t, n).get("reason") == "Queued", 60,
                     what=f"{name} queued")
        wait_for(lambda: _available(api.kubeconfig), 90, interval=1,
                 what="the APIService Available")
        _check(api, proc, ns, other)
    finally:
        kubectl(api.kubeconfig, "delete", "--ignore-not-found", "--wait=false", "-f", "-",
                stdin=registered, check=False)
        proc.stop()
        api.delete_namespace(other)


def _check(api: Api, proc: Operator, ns: str, other: str) -> None:
    # The admin: the same positions and reasons as the operator's own answer.
    listed = _pending(api.kubeconfig, "-n", ns)  # kubectl prints a List of what it got
    items = {i["metadata"]["name"]: i for i in listed["items"]}
    assert set(items) == {"q-a", "q-b"}, items
    assert all(i["apiVersion"] == GROUP_VERSION and i["kind"] == "PendingTask"
               for i in items.values())
    own = {i["name"]: i for i in _queue(api.kubeconfig, proc.port, "-n", ns)["items"]}
    for name, item in items.items():
        assert (item["position"], item["reason"]) == \
            (own[name]["position"], own[name]["reason"]), (item, own[name])
    assert items["q-a"]["position"] < items["q-b"]["position"]
    everywhere = _pending(api.kubeconfig, "-A")
    assert {(i["metadata"]["namespace"], i["metadata"]["name"])
            for i in everywhere["items"]} >= {(ns, "q-a"), (ns, "q-b"), (other, "elsewhere")}

    # The Table kubectl prints, in queue order, and one task by name.
    table = kubectl(api.kubeconfig, "get", "pendingtasks", "-n", ns).stdout.splitlines()
    assert table[0].split()[:5] == ["NAME", "POSITION", "PRIORITY", "REASON", "ETA"], table
    assert [line.split()[0] for line in table[1:]] == ["q-a", "q-b"], table
    one = _pending(api.kubeconfig, "-n", ns, "q-b")
    assert one["kind"] == "PendingTask" and one["metadata"]["name"] == "q-b"
    raw = json.loads(kubectl(api.kubeconfig, "get", "--raw",
                             f"/apis/{GROUP_VERSION}/namespaces/{ns}/pendingtasks").stdout)
    assert raw["kind"] == "PendingTaskList" and len(raw["items"]) == 2, raw
    missing = kubectl(api.kubeconfig, "get", "pendingtasks", "-n", ns, "block", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr, missing.stderr

    # RBAC is the API server's: a reader of ns lists ns, and neither other nor every
    # namespace; a user with rights on tasks only may not read the queue.
    reader = user_credentials(api, ns, "queue-reader", [*READ_QUEUE, READ_TASKS])
    assert {i["metadata"]["name"] for i in _pending(reader, "-n", ns)["items"]} == \
        {"q-a", "q-b"}
    for scope in (["-n", other], ["-A"]):
        refused = kubectl(reader, "get", "pendingtasks", *scope, check=False)
        assert refused.returncode != 0 and "Forbidden" in refused.stderr, refused.stderr
    # agenttasks queue and describe without an operator URL read the same through the API
    # server, with the reader's rights.
    cli = agenttasks(reader, "queue", "-n", ns, "-o", "json")
    assert cli.returncode == 0, cli.stderr
    seen = {i["name"]: i for i in json.loads(cli.stdout)["items"]}
    assert {n: (i["namespace"], i["position"]) for n, i in seen.items()} == \
        {n: (ns, items[n]["position"]) for n in ("q-a", "q-b")}
    described = agenttasks(reader, "describe", "q-b", "-n", ns)
    assert f"{items['q-b']['position']} of" in described.stdout and \
        "the operator's order" in described.stdout, described.stdout + described.stderr
    refused_cli = agenttasks(reader, "queue", "-n", other)
    one_line_error(refused_cli, "403")
    tasks_only = user_credentials(api, ns, "tasks-only", [
        {"apiGroups": ["agenttasks.io"], "resources": ["agenttasks"], "verbs": ["list"]}])
    refused = kubectl(tasks_only, "get", "pendingtasks", "-n", ns, check=False)
    assert refused.returncode != 0 and "Forbidden" in refused.stderr, refused.stderr

    # Straight to the operator's port, claiming to be the admin: refused, as no front-proxy
    # certificate comes with it.
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    request = urllib.request.Request(
        f"https://127.0.0.1:{proc.extra[proc.extra.index('--visibility-port') + 1]}"
        f"/apis/{GROUP_VERSION}/pendingtasks",
        headers={"X-Remote-User": "admin", "X-Remote-Group": "system:masters"})
    try:
        urllib.request.urlopen(request, context=context, timeout=10)
        raise AssertionError("the operator answered a request without the proxy's certificate")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401, exc.code
