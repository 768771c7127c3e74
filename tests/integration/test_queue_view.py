"""The visible queue (`agenttasks queue`, the operator's /api/queue) on the real control plane:
the positions it shows are the order in which the tasks then start, it names what each task
waits for (its namespace's share, a dependency, startAfter), it estimates once slots have been
seen to free, and a user sees only the namespaces where they may list AgentTasks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from agenttasks.api.meta import ANNOTATION_GRANTED_AT
from agenttasks.api.timefmt import format_time, parse_time

from .harness import Api, Operator, pod_template, user_credentials, wait_for
from .test_cli import agenttasks, one_line_error

READ_TASKS = [{"apiGroups": ["agenttasks.io"], "resources": ["agenttasks"],
               "verbs": ["get", "list", "watch"]}]


def _create(api: Api, ns: str, name: str, priority: int, duration: str = "1s",
            **spec: Any) -> None:
    api.create_task(ns, {"metadata": {"name": name},
                         "spec": {"priority": priority, "template": pod_template(duration),
                                  **spec}})


def _queue(kubeconfig: str, port: int, *args: str) -> dict[str, Any]:
    result = agenttasks(kubeconfig, "queue", "--operator-url", f"http://127.0.0.1:{port}",
                        "-o", "json", *args)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _by_name(document: dict[str, Any], ns: str) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in document["items"] if i["namespace"] == ns}


def _started(api: Api, ns: str, name: str) -> datetime:
    """When the task's (first) Job was granted its slot, else created."""
    job = api.jobs(ns, name)[0]
    granted = (job.metadata.annotations or {}).get(ANNOTATION_GRANTED_AT)
    moment = parse_time(granted) if granted else None  # RFC 3339 with milliseconds
    return moment or job.metadata.creation_timestamp  # type: ignore[no-any-return]


def test_queue_positions_reasons_and_rights(api: Api, own_ns: str) -> None:
    ns, other = own_ns, api.create_namespace("own")
    try:
        _run(api, ns, other)
    finally:
        api.delete_namespace(other)


def _run(api: Api, ns: str, other: str) -> None:
    start_after = (datetime.now(UTC) + timedelta(seconds=25)).replace(microsecond=0)
    for name in ("block-1", "block-2"):  # they hold both slots until cancelled
        _create(api, ns, name, 10, "1h")
    for name, priority in (("q-a", 5), ("q-b", 3), ("q-c", 1)):
        _create(api, ns, name, priority)
    _create(api, ns, "after-c", 9, dependsOn=["q-c"])
    _create(api, ns, "timed", 8, startAfter=format_time(start_after))
    reader = user_credentials(api, ns, "reader", READ_TASKS)
    proc = Operator(api.operator_kubeconfig, [ns, other], "queue-view",
                    ["--max-running", "2"]).start()
    try:
        for name in ("block-1", "block-2"):
            wait_for(lambda n=name: api.jobs(ns, n), 60, what=f"{name} started")
        # Created once ns holds both slots (else the fair share would give it one at once).
        _create(api, other, "hidden", 0)
        wait_for(lambda: api.status(ns, "q-c").get("reason") == "Queued", 60,
                 what="q-c queued")
        wait_for(lambda: api.status(other, "hidden").get("reason") == "Queued", 60,
                 what="hidden queued")

        admin = _queue(api.kubeconfig, proc.port, "-A")
        mine = _by_name(admin, ns)
        assert (admin["running"], admin["limits"]["maxRunning"]) == (2, 2)
        positions = {n: mine[n]["position"] for n in ("q-a", "q-b", "q-c")}
        assert positions["q-a"] < positions["q-b"] < positions["q-c"], positions
        # ns holds both slots, other none: the fair share gives other the first freed slot,
        # whatever the priorities (docs/queue.md), and ns's tasks wait for ns's share.
        assert _by_name(admin, other)["hidden"]["position"] < positions["q-a"]
        for n in ("q-a", "q-b", "q-c"):
            assert mine[n]["reason"] == "NamespaceShare", mine[n]
            assert "holds 2 of 2 slots" in mine[n]["message"], mine[n]
        assert (mine["after-c"]["reason"], mine["after-c"]["waitingFor"]) == \
            ("Dependencies", ["q-c"])
        assert mine["after-c"]["position"] is None and mine["after-c"]["eta"] is None
        assert mine["timed"]["reason"] == "StartAfter"
        assert parse_time(mine["timed"]["until"]) == start_after

        # The reader may list tasks in ns only: other's tasks are not named, and asking for
        # that namespace is refused.
        seen = _queue(reader, proc.port, "-A")
        assert {i["namespace"] for i in seen["items"]} == {ns}
        assert {i["name"] for i in seen["items"]} == set(mine)
        refused = agenttasks(reader, "queue", "-n", other, "--operator-url",
                             f"http://127.0.0.1:{proc.port}")
        one_line_error(refused, "403")
        table = agenttasks(reader, "queue", "-n", ns, "--operator-url",
                           f"http://127.0.0.1:{proc.port}")
        assert table.returncode == 0, table.stderr
        # POSITION is "1 (1 in ns)": the name is the fifth word.
        rows = {line.split()[4]: line for line in table.stdout.splitlines()
                if line.split()[:1] and line.split()[0].isdigit()}
        assert rows["q-a"].split()[5:7] == ["5", "NamespaceShare"], table.stdout
        described = agenttasks(reader, "describe", "q-b", "-n", ns, "--operator-url",
                               f"http://127.0.0.1:{proc.port}")
        assert "Waiting for:" in described.stdout and "NamespaceShare" in described.stdout, \
            described.stdout + described.stderr
        assert f"{positions['q-b']} of" in described.stdout

        # A slot frees: the queue has seen a release, and estimates where tasks start.
        api.patch_task(ns, "block-1", {"spec": {"cancelled": True}})

        def estimated() -> dict[str, Any] | None:
            items = _by_name(_queue(reader, proc.port, "-n", ns), ns)
            waiting = [i for i in items.values()
                       if i["reason"] in ("GlobalLimit", "NamespaceShare")]
            return items if waiting and all(i["eta"] for i in waiting) else None

        items = wait_for(estimated, 60, interval=0.5, what="an estimate after a release")
        for item in items.values():
            if item["eta"]:
                eta = item["eta"]
                assert parse_time(eta["earliest"]) <= parse_time(eta["start"]) <= \
                    parse_time(eta["latest"])
        if "timed" in items and items["timed"]["eta"]:
            assert parse_time(items["timed"]["eta"]["start"]) >= start_after

        api.patch_task(ns, "block-2", {"spec": {"cancelled": True}})
        for name in ("q-a", "q-b", "q-c", "after-c", "timed"):
            api.wait_phase(ns, name, "Completed", 120)
        api.wait_phase(other, "hidden", "Completed", 120)
    finally:
        proc.stop()
    started = {n: _started(api, ns, n) for n in ("q-a", "q-b", "q-c", "after-c", "timed")}
    by_position = sorted(positions, key=lambda n: positions[n])
    assert sorted(positions, key=lambda n: started[n]) == by_position, started
    assert started["timed"] >= start_after
    q_c_done = parse_time(api.status(ns, "q-c")["completionTime"])
    assert q_c_done is not None and started["after-c"] >= q_c_done - timedelta(seconds=1)
